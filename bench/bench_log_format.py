"""What ``LOG_FORMAT=json`` costs per log line, against vanilla Celery's text formatters.

Times, in one process, formatting and writing (to ``/dev/null``) the lines a worker writes
for every task at INFO — ``Task ... received`` (main process, the task in
``record.data``), a line the task logs while it runs (its context read from Celery's
current task) and ``Task ... succeeded`` — with:

* text — what vanilla Celery uses: ``ColorFormatter`` with ``worker_log_format`` for the
  first and last, ``TaskFormatter`` with ``worker_task_log_format`` for the task's line;
* json — ``workers.log_json.AgentqJsonFormatter`` for all three.

Reported as CPU µs per line and the ratio json / text, medians of interleaved repetitions.

    python -m bench.bench_log_format [--lines 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

from celery import Celery
from celery.app.log import TaskFormatter
from celery.utils.log import ColorFormatter

from workers.log_json import AgentqJsonFormatter, set_worker

RESULTS = Path(__file__).resolve().parent / "results" / "log_format_last_run.json"


def _records() -> tuple[list[logging.LogRecord], logging.LogRecord]:
    """The main process's lines (about a task) and the line from inside the task."""
    data = {"id": "5b0e5c1e-4c1f-4f53-9a55-3c1c2f0e4d11", "name": "agents.content_generator"}
    data |= {"args": "()", "kwargs": "{'task_type': 'x'}", "eta": None}
    about = []
    for msg in ("Task %(name)s[%(id)s] received", "Task %(name)s[%(id)s] succeeded in 0.01s"):
        rec = logging.LogRecord("celery.app.trace", logging.INFO, __file__, 1, msg, (data,), None)
        rec.data = data
        about.append(rec)
    inside = logging.LogRecord("tasks.agents", logging.INFO, __file__, 1, "step %d", (3,), None)
    return about, inside


def _time(handler: logging.Handler, records: list[logging.LogRecord], lines: int) -> float:
    """CPU seconds to emit ``lines`` records (cycling through ``records``)."""
    start = time.process_time()
    for i in range(lines):
        handler.handle(records[i % len(records)])
    return time.process_time() - start


def run(lines: int, repeat: int) -> dict[str, Any]:
    app = Celery("bench-log-format", set_as_current=False)
    set_worker("bench@host")
    about, inside = _records()
    sink = open(os.devnull, "w")  # noqa: SIM115 (closed below)
    handlers: dict[str, dict[str, logging.Handler]] = {
        name: {"about": logging.StreamHandler(sink), "inside": logging.StreamHandler(sink)}
        for name in ("text", "json")
    }
    handlers["text"]["about"].setFormatter(ColorFormatter(app.conf.worker_log_format))
    handlers["text"]["inside"].setFormatter(TaskFormatter(app.conf.worker_task_log_format))
    for h in handlers["json"].values():
        h.setFormatter(AgentqJsonFormatter())

    @app.task(name="agents.content_generator", bind=True)
    def task(self: Any, n: int) -> dict[str, float]:
        # Inside a running task, as the pool runs it: Celery's current task is set.
        out: dict[str, float] = {}
        for fmt in order:
            out[fmt] = _time(handlers[fmt]["inside"], [inside], n) + _time(
                handlers[fmt]["about"], about, 2 * n
            )
        return out

    samples: dict[str, list[float]] = {"text": [], "json": []}
    for r in range(repeat):
        order = ("text", "json") if r % 2 == 0 else ("json", "text")
        got = task.apply(args=(lines // 3,)).get()
        for fmt, seconds in got.items():
            samples[fmt].append(seconds / (3 * (lines // 3)) * 1e6)
    sink.close()
    text, js = statistics.median(samples["text"]), statistics.median(samples["json"])
    return {
        "lines": lines,
        "repeat": repeat,
        "us_per_line": {"text": round(text, 2), "json": round(js, 2)},
        "json_over_text": round(js / text, 2),
        "samples_us": {k: [round(v, 2) for v in vs] for k, vs in samples.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    result = run(args.lines, args.repeat)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    us = result["us_per_line"]
    print(f"text (vanilla Celery formatters): {us['text']:.2f} µs CPU per line")
    print(f"json (LOG_FORMAT=json):           {us['json']:.2f} µs CPU per line")
    print(f"json / text: {result['json_over_text']:.2f}  ({args.lines} lines x {args.repeat})")


if __name__ == "__main__":
    main()
