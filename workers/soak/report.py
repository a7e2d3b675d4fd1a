"""The soak's report: one summary (a table, or JSON), and one line per task (``--report``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from workers.soak import evidence, reconciled
from workers.soak.verify import Verdict

if TYPE_CHECKING:
    from workers.soak.run import Soak


def summary(
    soak: Soak,
    v: Verdict,
    t0: tuple[float, float],
    published_at: float,
    last_fault: float,
    converged: float | None,
) -> dict[str, Any]:
    """``t0``: (wall, monotonic) when the load started; the other times are monotonic."""
    assert soak.schedule is not None
    faults = [f.as_dict(t0[1]) for f in soak.schedule.faults]
    failed = [f.kind for f in soak.schedule.faults if not f.took_effect]
    windows = [(t0[0] + f["start"], t0[0] + f["end"]) for f in faults if f["end"] is not None]
    calm, stormy = _throughput(soak.database_url, list(v.rows), windows)
    assert soak.redis is not None
    dead = evidence.dead_letters(soak.redis.url)
    # what evidence.gather found in the logs and the dead letters (not read again here)
    evidence_of = {f.kind: f.evidence for f in soak.schedule.faults}
    poison_unaccounted = evidence_of["poison"].get("unaccounted", 0)
    unrepaired = evidence_of.get("broker_loss", {}).get("unrepaired", [])
    final = soak.final_reconcile
    repaired = reconciled.repaired(v.histories, v.histories)
    deleted = evidence_of.get("broker_loss", {}).get("task_ids", {})
    # with --redis-kill Redis itself loses messages: those repairs are right
    not_lost = [] if soak.opts.redis_kill else reconciled.needless(repaired, deleted)
    reconcile_problems = reconciled.problems(unrepaired, final, not_lost)
    return {
        "seed": soak.opts.seed,
        "tasks": v.tasks,
        "planned": soak.planned,
        "not_published": soak.planned - v.tasks,
        "expected": dict(v.expected),
        "found": dict(v.found),
        "lost": len(v.lost),
        "wrong": len(v.wrong),
        "duplicates": v.duplicates,
        "redelivered": v.redelivered,
        "spool_replayed": evidence_of["partition"].get("spool_entries_replayed", 0),
        "dead_letters": dead,
        "dead_letter_reasons": evidence.dead_letter_reasons(soak.redis.url),
        "poison_unaccounted": poison_unaccounted,
        "lag_p50_seconds": v.lag.get("p50"),
        "lag_p99_seconds": v.lag.get("p99"),
        "lag_max_seconds": v.lag.get("max"),
        "publish_seconds": round(published_at - t0[1], 1),
        "converged_seconds": converged,
        "throughput_calm_per_s": calm,
        "throughput_faults_per_s": stormy,
        # tasks of the run whose history shows the reconciler's redelivery (broker_loss,
        # and with --redis-kill what the SIGKILL lost)
        "reconciler_repaired": len(repaired),
        "broker_loss_unrepaired": unrepaired,
        "repaired_not_lost": not_lost,
        "final_reconcile": None if final is None else final.as_dict(),
        "reconcile_problems": reconcile_problems,
        "faults": faults,
        "faults_not_injected": failed,
        "examples": {"lost": v.lost[:10], "wrong": v.wrong[:10]},
        "workdir": str(soak.workdir) if soak.opts.keep else None,
        "producer_failures": soak.producer_failures,
        "alerts": soak.alerts,  # --alerts: workers/soak/alert_verdict.py
        "passed": v.ok
        and not failed
        and soak.planned == v.tasks
        and not poison_unaccounted
        and not reconcile_problems
        and (soak.alerts is None or bool(soak.alerts["passed"])),
    }


def _throughput(
    url: str, ids: list[str], windows: list[tuple[float, float]]
) -> tuple[float | None, float | None]:
    """Tasks ended per second outside and inside the fault windows (wall clock)."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        ends = [
            r[0]
            for r in conn.execute(
                "SELECT extract(epoch FROM completed_at) FROM agent_executions "
                "WHERE task_id = ANY(%s) AND completed_at IS NOT NULL",
                (ids,),
            )
        ]
    if not ends:
        return None, None
    # The span of the bulk of the work: the last 5 % (countdowns, the slowest retries) end
    # one by one after the load is gone and would read as a calm with no throughput.
    ends = sorted(float(e) for e in ends)
    ends = ends[: max(2, int(len(ends) * 0.95))]
    merged = _union(windows)  # the faults overlap: count each second once
    inside = sum(1 for e in ends if any(a <= e <= b for a, b in merged))
    span = ends[-1] - ends[0] or 1.0
    fault_span = sum(max(0.0, min(b, ends[-1]) - max(a, ends[0])) for a, b in merged if b > ends[0])
    calm_span = span - fault_span
    calm = round((len(ends) - inside) / calm_span, 1) if calm_span > 1 else None
    stormy = round(inside / fault_span, 1) if fault_span > 1 else None
    return calm, stormy


def _union(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def write_lines(path: Path, soak: Soak, v: Verdict, expected: dict[str, tuple[str, int]]) -> None:
    with path.open("w") as fh:
        for task_id, (status, attempt) in expected.items():
            row = v.rows.get(task_id) or {}
            fh.write(
                json.dumps(
                    {
                        "task_id": task_id,
                        "agent_type": row.get("agent_type"),
                        "expected": {"status": status, "attempts": attempt},
                        "found": {"status": row.get("status"), "attempts": row.get("retry_count")},
                        "history": v.histories.get(task_id, []),
                    }
                )
                + "\n"
            )
