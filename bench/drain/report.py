"""The printed table, the growth with the table size, the targets, the JSON file."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGET_TPS = 20_000  # one recorder, full tables: transitions/s (5 000 tasks/s)
FLEET_TASKS_PER_S = 10_000  # the fleet the scaling estimate is for


def _matrix(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if r["kind"] == "matrix"]


def print_run(run: dict[str, Any]) -> None:
    c = run["cpu_us_per_transition"]
    bad = "  CHECK FAILED: " + "; ".join(run["failures"]) if run["failures"] else "  checks ok"
    if run["recorder_warnings"]:  # retried batches (an outage, a deadlock): not a loss
        bad += f"; {run['recorder_warnings']} recorder warnings (logged)"
    print(
        f"  {run['tables']:<6}{run['recorders']:>3} rec {run['window_ms']:>4} ms window"
        f" backlog batch {run.get('backlog_batch')} lever {run.get('lever')}"
        f" {run['tasks']:>7} tasks {run['transitions_per_s']:>7} tr/s"
        f" {run['tasks_per_s']:>6} tasks/s {run['seconds']:7.2f} s | us CPU/transition:"
        f" rec {c['recorders']:6.1f}  pg {c['pg_backends']:6.1f}+{c['pg_other']:5.1f}"
        f"  redis {c['redis']:5.1f}  other {c['other']:5.1f} | {run['batches']} batches"
        f" (fill {run['fill_s']} s) | executions updated {run.get('executions_updates')},"
        f" HOT {run.get('executions_hot_updates')}{bad}",
        flush=True,
    )
    for st in run.get("statements", []):
        print(
            f"      {st['us_per_transition']:8.1f} us {st['buffer_hits_per_transition']:6.1f} hits"
            f" per transition, {st['calls']:>7} calls: {st['query']}"
        )


def growth(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Full / empty, per number of recorders: throughput and CPU per transition."""
    out = []
    by = {(r["tables"], r["recorders"]): r for r in _matrix(runs)}
    for (tables, k), full in by.items():
        empty = by.get(("empty", k))
        if tables != "full" or empty is None:
            continue
        e, f = empty["cpu_us_per_transition"], full["cpu_us_per_transition"]
        out.append(
            {
                "recorders": k,
                "transitions_per_s": _ratio(full["transitions_per_s"], empty["transitions_per_s"]),
                "recorder_us": _ratio(f["recorders"], e["recorders"]),
                "pg_us": _ratio(full["pg_us_per_transition"], empty["pg_us_per_transition"]),
                "pg_backend_us": _ratio(f["pg_backends"], e["pg_backends"]),
            }
        )
    return out


def _ratio(x: float, y: float) -> float | None:
    return round(x / y, 2) if y else None


def fleet(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Cores each component needs for FLEET_TASKS_PER_S, from the 1-recorder full run."""
    runs = _matrix(runs)
    one = next((r for r in runs if r["tables"] == "full" and r["recorders"] == 1), None)
    one = one or next((r for r in runs if r["recorders"] == 1), None)
    if one is None:
        return None
    tr_per_task = one["transitions"] / one["tasks"]
    entries_per_task = one["entries"] / one["tasks"]
    rate = FLEET_TASKS_PER_S * tr_per_task
    c = one["cpu_us_per_transition"]
    return {
        "from_run": f"{one['tables']} tables, 1 recorder",
        "transitions_per_s": round(rate),
        "entries_per_s": round(FLEET_TASKS_PER_S * entries_per_task),
        "recorder_cores": round(c["recorders"] * rate / 1e6, 2),
        "pg_cores": round(one["pg_us_per_transition"] * rate / 1e6, 2),
        "redis_drain_cores": round(c["redis"] * rate / 1e6, 2),
        "redis_xadd_cores_pipelined": round(
            one["fill_redis_us_per_entry"] * FLEET_TASKS_PER_S * entries_per_task / 1e6, 2
        ),
        # More recorders do not add up (bench/README.md): the best any number reached.
        "best_measured": max(
            (
                f"{r['tasks_per_s']} tasks/s, {r['recorders']} recorders, {r['tables']} tables"
                for r in runs
                if r["tables"] == one["tables"]
            ),
            key=lambda x: int(x.split()[0]),
        ),
    }


def targets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    one = next((r for r in _matrix(runs) if r["tables"] == "full" and r["recorders"] == 1), None)
    value = one["transitions_per_s"] if one else None
    ok = all(not r["failures"] for r in runs)
    return [
        {
            "target": f"1 recorder, full tables: >= {TARGET_TPS} transitions/s",
            "value": value,
            "result": "n/a" if value is None else "PASS" if value >= TARGET_TPS else "FAIL",
        },
        {
            "target": "every run: no loss, no duplicates, every row in its final state",
            "value": sum(1 for r in runs if not r["failures"]),
            "result": "PASS" if ok and runs else "FAIL",
        },
    ]


def print_report(runs: list[dict[str, Any]], load: dict[str, Any] | None) -> dict[str, Any]:
    head = (
        f"{'tables':<8}{'rec':>4}{'window':>7}{'tr/s':>8}{'tasks/s':>8}{'s':>7}"
        f"{'rec us':>8}{'pg us':>8}{'(bknd)':>8}{'redis':>7}{'other':>7}{'batches':>8}"
        f"{'backlog':>8}{'HOT/upd':>14}"
    )
    print("\nCPU in us per transition: recorder processes, PostgreSQL (all its processes;")
    print("in parentheses its client backends), redis-server, machine CPU charged to none")
    print(head)
    print("-" * len(head))
    for r in runs:
        c = r["cpu_us_per_transition"]
        print(
            f"{r['tables']:<8}{r['recorders']:>4}{r['window_ms']:>7}{r['transitions_per_s']:>8}"
            f"{r['tasks_per_s']:>8}{r['seconds']:>7.1f}{c['recorders']:>8.1f}"
            f"{r['pg_us_per_transition']:>8.1f}{c['pg_backends']:>8.1f}{c['redis']:>7.1f}"
            f"{c['other']:>7.1f}{r['batches']:>8}{r.get('backlog_batch', '')!s:>8}"
            f"{r.get('executions_hot_updates', '')!s:>6}/{r.get('executions_updates', '')!s:<7}"
        )
    if load:
        print(f"\nfull tables: {load}")
    g = growth(runs)
    if g:
        print("\nfull / empty tables:")
        for x in g:
            print(
                f"  {x['recorders']} rec: transitions/s {x['transitions_per_s']}x,"
                f" recorder us {x['recorder_us']}x, PostgreSQL us {x['pg_us']}x"
                f" (backends {x['pg_backend_us']}x)"
            )
    f = fleet(runs)
    if f:
        print(f"\nat {FLEET_TASKS_PER_S} tasks/s ({f['from_run']}): {f}")
    t = targets(runs)
    print("\ntargets:")
    for x in t:
        print(f"  {x['result']:<5}{x['target']:<66}{x['value']}")
    for r in runs:
        if r["failures"]:
            print(f"  CHECK {r['tables']} {r['recorders']} rec: " + "; ".join(r["failures"]))
    return {"growth": g, "fleet": f, "targets": t}


def write_json(
    path: Path, args: Any, started: datetime, runs: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "bench_drain",
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {k: _plain(v) for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_end": os.getloadavg(),
        },
        "runs": runs,
        **extra,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _plain(value: Any) -> Any:
    """A setting as JSON holds it (paths as strings, lists of paths too)."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value
