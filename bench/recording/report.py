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

from bench.recording.configs import CONFIGS, TARGETS, RunResult


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


def evaluate(med: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    a, b, c = med.get("a", {}), med.get("b", {}), med.get("c", {})
    ratios = {
        "b/a tasks_per_s": _ratio(b.get("tasks_per_s"), a.get("tasks_per_s")),
        "b/a cpu_ms_per_task": _ratio(b.get("cpu_ms_per_task"), a.get("cpu_ms_per_task")),
        "c/a tasks_per_s": _ratio(c.get("tasks_per_s"), a.get("tasks_per_s")),
        "c/a cpu_ms_per_task": _ratio(c.get("cpu_ms_per_task"), a.get("cpu_ms_per_task")),
        "b/c tasks_per_s": _ratio(b.get("tasks_per_s"), c.get("tasks_per_s")),
        "enqueue b/a": _ratio(b.get("enqueue_cpu_ms"), a.get("enqueue_cpu_ms")),
        "enqueue c/a": _ratio(c.get("enqueue_cpu_ms"), a.get("enqueue_cpu_ms")),
    }
    for key in ("d", "s", "r", "t"):  # the optional variants, for comparison
        if key in med:
            v = med[key]
            ratios[f"{key}/a tasks_per_s"] = _ratio(v.get("tasks_per_s"), a.get("tasks_per_s"))
            ratios[f"{key}/a cpu_ms_per_task"] = _ratio(
                v.get("cpu_ms_per_task"), a.get("cpu_ms_per_task")
            )
            ratios[f"enqueue {key}/a"] = _ratio(v.get("enqueue_cpu_ms"), a.get("enqueue_cpu_ms"))
    if "t" in med:  # the same recording with tracing on: against (b)
        t = med["t"]
        for k in ("tasks_per_s", "cpu_ms_per_task"):
            ratios[f"t/b {k}"] = _ratio(t.get(k), b.get(k))
        ratios["enqueue t/b"] = _ratio(t.get("enqueue_cpu_ms"), b.get("enqueue_cpu_ms"))
    if "r" in med:  # the same recording with another XADD writer: against (b)
        r = med["r"]
        for k in ("tasks_per_s", "cpu_ms_per_task"):
            ratios[f"r/b {k}"] = _ratio(r.get(k), b.get(k))
        ratios["enqueue r/b"] = _ratio(r.get("enqueue_cpu_ms"), b.get("enqueue_cpu_ms"))
        ratios["r/b pool+producer cpu"] = _ratio(_xadd_cpu(r), _xadd_cpu(b))
    checks = [
        ("(b) tasks/s >= 0.90 x (a)", ratios["b/a tasks_per_s"], "b_tps_vs_a", ">="),
        ("(b) CPU ms/task <= 1.15 x (a)", ratios["b/a cpu_ms_per_task"], "b_cpu_vs_a", "<="),
        ("(b) tasks/s >= 3 x (c)", ratios["b/c tasks_per_s"], "b_tps_vs_c", ">="),
        ("enqueue CPU (b) <= 1.25 x (a)", ratios["enqueue b/a"], "enqueue_b_vs_a", "<="),
        ("(b) recording lag p99 < 0.5 s", b.get("lag_p99_s"), "lag_p99_s", "<"),
    ]
    targets = []
    for name, value, target, op in checks:
        limit = TARGETS[target]
        ok = None
        if value is not None:
            ok = value >= limit if op == ">=" else value <= limit if op == "<=" else value < limit
        verdict = "n/a" if ok is None else "PASS" if ok else "FAIL"
        targets.append({"target": name, "value": value, "limit": limit, "result": verdict})
    return ratios, targets


def paired_ratios(runs: list[RunResult]) -> dict[str, float | None]:
    """Medians of the ratios within each repetition (a, b, c run back to back).

    The machine's speed drifts between repetitions (bare Celery alone has ranged
    232-378 tasks/s in one run here); a ratio taken inside one repetition cancels most
    of that drift, so these are steadier than the ratios of the medians. The targets
    are still judged on the medians, as the issue states them.
    """
    by_rep: dict[int, dict[str, RunResult]] = {}
    for r in runs:
        by_rep.setdefault(r.rep, {})[r.config] = r
    pairs: dict[str, list[float]] = {}
    for rep in by_rep.values():
        a, b, c = rep.get("a"), rep.get("b"), rep.get("c")
        if a and b:
            pairs.setdefault("b/a tasks_per_s", []).append(b.tasks_per_s / a.tasks_per_s)
            pairs.setdefault("b/a cpu_ms_per_task", []).append(
                b.cpu_ms_per_task / a.cpu_ms_per_task
            )
            pairs.setdefault("enqueue b/a", []).append(b.enqueue_cpu_ms / a.enqueue_cpu_ms)
        if b and c:
            pairs.setdefault("b/c tasks_per_s", []).append(b.tasks_per_s / c.tasks_per_s)
        traced = rep.get("t")
        if b and traced:  # tracing on vs off, in the same repetition
            pairs.setdefault("t/b tasks_per_s", []).append(traced.tasks_per_s / b.tasks_per_s)
            pairs.setdefault("t/b cpu_ms_per_task", []).append(
                traced.cpu_ms_per_task / b.cpu_ms_per_task
            )
            pairs.setdefault("enqueue t/b", []).append(traced.enqueue_cpu_ms / b.enqueue_cpu_ms)
        for key in ("d", "s", "r", "t"):
            v = rep.get(key)
            if a and v:
                pairs.setdefault(f"{key}/a tasks_per_s", []).append(v.tasks_per_s / a.tasks_per_s)
                pairs.setdefault(f"{key}/a cpu_ms_per_task", []).append(
                    v.cpu_ms_per_task / a.cpu_ms_per_task
                )
        writer = rep.get("r")
        if b and writer:
            pairs.setdefault("r/b cpu_ms_per_task", []).append(
                writer.cpu_ms_per_task / b.cpu_ms_per_task
            )
            pairs.setdefault("enqueue r/b", []).append(writer.enqueue_cpu_ms / b.enqueue_cpu_ms)
            pairs.setdefault("r/b pool+producer cpu", []).append(
                _xadd_cpu(asdict(writer)) / _xadd_cpu(asdict(b))
            )
    return {k: round(statistics.median(v), 3) for k, v in pairs.items()}


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


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
        + f"{'enq ms':>8}{'lag p50':>8}{'lag p99':>8}"
    )
    reps = max((m["runs"] for m in med.values()), default=0)
    print(
        f"\nmedians over {reps} runs. CPU ms/task: worker main process, pool children,"
        " recorder process, producer, redis-server, PostgreSQL, and busy machine CPU"
        " charged to no process"
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
            f"{_fmt(m['lag_p50_s'], '.3f'):>8}{_fmt(m['lag_p99_s'], '.3f'):>8}"
        )
    print("\nratios: " + ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in ratios.items()))
    paired = paired_ratios(runs)
    if paired:
        print(
            "paired (median of the ratios within each repetition): "
            + ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in paired.items())
        )
    print("\ntargets:")
    for t in targets:
        value = _fmt(t["value"], ".3f")
        print(f"  {t['result']:<5}{t['target']:<34}{value:>8}  (limit {t['limit']})")
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
        f" enqueue {r.enqueue_cpu_ms:.3f} ms, publish {r.publish_per_s:.0f}/s{lag}"
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
