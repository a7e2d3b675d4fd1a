"""Medians, ratios, the targets, the printed report and the JSON file of a run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bench.recording.configs import CONFIGS, PAIRS, TARGET_OPS, TARGETS, RunResult


def _median(runs: list[RunResult], get: Callable[[RunResult], float | None]) -> float | None:
    values = [v for v in map(get, runs) if v is not None]
    return statistics.median(values) if values else None


def summarize(runs: list[RunResult]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in CONFIGS:
        mine = [r for r in runs if r.config == key]
        if not mine:
            continue
        out[key] = {
            "runs": len(mine),
            "tasks_per_s": _median(mine, lambda r: r.tasks_per_s),
            "worker_tasks_per_s": _median(mine, lambda r: r.worker_tasks_per_s),
            "publish_per_s": _median(mine, lambda r: r.publish_per_s),
            "enqueue_cpu_ms": _median(mine, lambda r: r.enqueue_cpu_ms),
            "cpu_ms_per_task": _median(mine, lambda r: r.cpu_ms_per_task),
            "cpu_ms_by_process": {
                p: _median(mine, lambda r, p=p: r.cpu_ms_by_process[p])  # type: ignore[misc]
                for p in mine[0].cpu_ms_by_process
            },
            "other_machine_cpu_ms": _median(mine, lambda r: r.other_machine_cpu_ms),
            "machine_cpu_ms": {
                k: _median(mine, lambda r, k=k: r.machine_cpu_ms[k])  # type: ignore[misc]
                for k in mine[0].machine_cpu_ms
            },
            "enqueue_wall_p50_ms": _median(mine, lambda r: r.enqueue_wall_p50_ms),
            "enqueue_wall_p99_ms": _median(mine, lambda r: r.enqueue_wall_p99_ms),
            "task_events": _median(mine, lambda r: sum(r.task_events.values())),
            "lag_p50_s": _median(mine, lambda r: r.lag_p50_s),
            "lag_p99_s": _median(mine, lambda r: r.lag_p99_s),
        }
    return out


def _xadd_cpu(m: dict[str, Any]) -> float:
    """CPU ms/task of the processes that XADD: the worker's pool children, the producer."""
    p = m["cpu_ms_by_process"]
    return float(p["worker_pool"] + p["producer"])


def _ratio(x: float | None, y: float | None) -> float | None:
    return None if x is None or not y else round(x / y, 3)


# What each ratio of two configurations compares; "enqueue" is the producer's CPU per
# publish, "enqueue wall p50/p99" one call's wall time (enqueue against apply_async).
METRICS = {
    "tasks_per_s": "tasks_per_s",
    "cpu_ms_per_task": "cpu_ms_per_task",
    "enqueue": "enqueue_cpu_ms",
    "enqueue wall p50": "enqueue_wall_p50_ms",
    "enqueue wall p99": "enqueue_wall_p99_ms",
}


def _pairs(present: set[str]) -> dict[str, tuple[str, str]]:
    """The named pairs (configs.PAIRS) both of whose configurations ran, then every other
    configuration against vanilla (v), and (r) against (b)."""
    pairs = {k: p for k, p in PAIRS.items() if p[0] in present and p[1] in present}
    named = {p[0] for p in pairs.values()}
    for key in sorted(present - named - {"v", "f"}):
        if "v" in present:
            pairs[f"{key}/v"] = (key, "v")
    for lever in ("r", "w", "t"):  # variants of (b): against (b) (t: tracing on)
        if {lever, "b"} <= present:
            pairs[f"{lever}/b"] = (lever, "b")
    return pairs


def _ratio_name(pair: str, metric: str) -> str:
    # "b/v tasks_per_s", "enqueue b/v", "enqueue wall p99 b/v" (the issue's spelling)
    return f"{metric} {pair}" if metric.startswith("enqueue") else f"{pair} {metric}"


def ratios_of(med: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for pair, (x, y) in _pairs(set(med)).items():
        for metric, field in METRICS.items():
            out[_ratio_name(pair, metric)] = _ratio(med[x].get(field), med[y].get(field))
    if {"r", "b"} <= set(med):
        out["r/b pool+producer cpu"] = _ratio(_xadd_cpu(med["r"]), _xadd_cpu(med["b"]))
    return out


def evaluate(
    med: dict[str, dict[str, Any]], paired: dict[str, float | None]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ratios of the medians, and the targets judged on the paired ratios (the ratio
    within each repetition cancels the machine's drift between them), medians beside."""
    ratios = ratios_of(med)
    targets = []
    for name, limit in TARGETS.items():
        if name == "lag_p99_s":
            value, median = med.get("b", {}).get("lag_p99_s"), None
            op = "<"
        else:
            value, median = paired.get(name), ratios.get(name)
            op = next(o for m, o in TARGET_OPS.items() if m in name)
        ok = None
        if value is not None:
            ok = value >= limit if op == ">=" else value <= limit if op == "<=" else value < limit
        verdict = "n/a" if ok is None else "PASS" if ok else "FAIL"
        targets.append(
            {
                "target": f"{name} {op} {limit}",
                "value": value,
                "median_ratio": median,
                "limit": limit,
                "result": verdict,
            }
        )
    return ratios, targets


def paired_ratios(runs: list[RunResult]) -> dict[str, float | None]:
    """Medians of the ratios within each repetition (its configurations run back to back).

    The machine's speed drifts between repetitions (bare Celery alone has ranged
    232-378 tasks/s in one run here); a ratio taken inside one repetition cancels most
    of that drift, so these are steadier than the ratios of the medians.
    """
    by_rep: dict[int, dict[str, RunResult]] = {}
    for r in runs:
        by_rep.setdefault(r.rep, {})[r.config] = r
    pairs: dict[str, list[float]] = {}
    present = {r.config for r in runs}
    for rep in by_rep.values():
        for pair, (x, y) in _pairs(present).items():
            if x not in rep or y not in rep:
                continue
            for metric, field in METRICS.items():
                num, den = getattr(rep[x], field), getattr(rep[y], field)
                if num is not None and den:
                    pairs.setdefault(_ratio_name(pair, metric), []).append(num / den)
        if "r" in rep and "b" in rep:
            pairs.setdefault("r/b pool+producer cpu", []).append(
                _xadd_cpu(asdict(rep["r"])) / _xadd_cpu(asdict(rep["b"]))
            )
    return {k: round(statistics.median(v), 3) for k, v in pairs.items()}


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


HEADLINE = ("b/v", "b/f")  # the issue's: recording against what users run today


def print_report(
    runs: list[RunResult],
    med: dict[str, dict[str, Any]],
    ratios: dict[str, Any],
    targets: list[dict[str, Any]],
) -> None:
    procs = ["worker_main", "worker_pool", "recorder", "producer", "redis", "postgres"]
    head = (
        f"{'config':<24}{'tasks/s':>8}{'worker/s':>9}{'CPU ms/task':>12}"
        + "".join(f"{h:>7}" for h in ("main", "pool", "rec", "prod", "redis", "pg", "other"))
        + f"{'enq ms':>8}{'wall p50':>9}{'p99':>7}{'events':>7}{'lag p50':>8}{'lag p99':>8}"
    )
    reps = max((m["runs"] for m in med.values()), default=0)
    print(
        f"\nmedians over {reps} runs. CPU ms/task: worker main process, pool children,"
        " recorder process, producer, redis-server, PostgreSQL, and busy machine CPU"
        " charged to no process; enq ms: producer CPU per publish; wall p50/p99: ms per"
        " producer.enqueue (vanilla: apply_async); events: Celery events seen"
    )
    print(head)
    print("-" * len(head))
    for key, m in med.items():
        p = m["cpu_ms_by_process"]
        print(
            f"({key}) {CONFIGS[key].label[:20]:<20}{_fmt(m['tasks_per_s'], '.1f'):>8}"
            f"{_fmt(m['worker_tasks_per_s'], '.1f'):>9}{_fmt(m['cpu_ms_per_task'], '.3f'):>12}"
            + "".join(f"{_fmt(p.get(k), '.2f'):>7}" for k in procs)
            + f"{_fmt(m['other_machine_cpu_ms'], '.2f'):>7}{_fmt(m['enqueue_cpu_ms'], '.3f'):>8}"
            f"{_fmt(m['enqueue_wall_p50_ms'], '.3f'):>9}{_fmt(m['enqueue_wall_p99_ms'], '.2f'):>7}"
            f"{_fmt(m['task_events'], '.0f'):>7}"
            f"{_fmt(m['lag_p50_s'], '.3f'):>8}{_fmt(m['lag_p99_s'], '.3f'):>8}"
        )
    paired = paired_ratios(runs)
    print("\nheadline (b/f is (e), recording with task events, over (f)): paired | medians")
    for pair in HEADLINE:
        for metric in METRICS:
            name = _ratio_name(pair, metric)
            if name in ratios:
                print(
                    f"  {name:<28}{_fmt(paired.get(name), '.3f'):>8} | {_fmt(ratios[name], '.3f')}"
                )
    print(
        "\nratios of the medians: " + ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in ratios.items())
    )
    if paired:
        print(
            "paired (median of the ratios within each repetition): "
            + ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in paired.items())
        )
    print("\ntargets (paired ratios; lag: median of (b)'s runs):")
    for t in targets:
        value = _fmt(t["value"], ".3f")
        med_ratio = _fmt(t["median_ratio"], ".3f")
        print(f"  {t['result']:<5}{t['target']:<34}{value:>8}  (ratio of medians {med_ratio})")
    for r in runs:
        if r.checks:
            print(f"  WARNING run ({r.config}) #{r.rep}: " + "; ".join(r.checks))


def print_run(r: RunResult) -> None:
    lag = ""
    if r.lag_p99_s is not None:
        lag = f"  lag p50/p99 {r.lag_p50_s:.3f}/{r.lag_p99_s:.3f} s, {r.recorder_batches} batches"
    print(
        f"  ({r.config}) rep {r.rep}: {r.tasks_per_s:7.1f} tasks/s"
        f" (worker {r.worker_tasks_per_s:.1f}),"
        f" {r.cpu_ms_per_task:.3f} CPU ms/task {r.cpu_ms_by_process},"
        f" enqueue {r.enqueue_cpu_ms:.3f} ms, publish {r.publish_per_s:.0f}/s,"
        f" {sum(r.task_events.values())} events{lag}"
        + (f"  CHECK: {'; '.join(r.checks)}" if r.checks else ""),
        flush=True,
    )


def write_json(
    args: argparse.Namespace,
    c_tasks: int,
    started: datetime,
    runs: list[RunResult],
    med: dict[str, Any],
    ratios: dict[str, Any],
    targets: list[dict[str, Any]],
) -> None:
    import celery
    import kombu

    doc = {
        "command": "python -m bench.bench_recording " + " ".join(sys.argv[1:]),
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "settings": {
            "tasks": args.tasks,
            "c_tasks": c_tasks,
            "repeat": args.repeat,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "poll_s": args.poll,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "celery": celery.__version__,
            "kombu": kombu.__version__,
            "platform": platform.platform(),
        },
        "configs": {k: asdict(v) for k, v in CONFIGS.items()},
        "medians": med,
        "ratios": ratios,
        "paired_ratios": paired_ratios(runs),
        "targets": targets,
        "runs": [asdict(r) for r in runs],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nresults: {args.output}")
