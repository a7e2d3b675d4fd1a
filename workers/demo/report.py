"""What ``agentq demo`` reads back from the database, and how it prints it.

Everything here is read from PostgreSQL (by the demo run's ``session_id``), never from
what the demo thinks it enqueued: the summary is the record.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from persistence.lifecycle import TERMINAL

TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)

_BY_TYPE_AND_STATUS = """
SELECT agent_type::text, status::text, count(*), count(*) FILTER (WHERE retry_count > 0),
       avg(quality_score), max(completed_at)
FROM agent_executions WHERE session_id = %(sid)s GROUP BY 1, 2 ORDER BY 1, 2
"""
_PICK_TIMELINES = """
(SELECT task_id FROM agent_executions WHERE session_id = %(sid)s
   AND status = 'completed' AND retry_count = 0 ORDER BY created_at LIMIT 1)
UNION ALL
(SELECT task_id FROM agent_executions WHERE session_id = %(sid)s
   AND status = 'completed' AND retry_count > 0 ORDER BY created_at LIMIT 1)
UNION ALL
(SELECT task_id FROM agent_executions WHERE session_id = %(sid)s
   AND status = 'failed' ORDER BY retry_count DESC, created_at LIMIT 1)
"""


def status_counts(store: Any, session_id: str) -> Counter[str]:
    """Executions of the run per status (one query: cheap enough to poll)."""
    sql = (
        "SELECT status::text, count(*) FROM agent_executions WHERE session_id = %(sid)s GROUP BY 1"
    )
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(sql, {"sid": session_id}).all()
    return Counter({status: int(n) for status, n in rows})


def last_completion(store: Any, session_id: str) -> datetime | None:
    sql = "SELECT max(completed_at) FROM agent_executions WHERE session_id = %(sid)s"
    with store.engine.connect() as conn:
        value = conn.exec_driver_sql(sql, {"sid": session_id}).scalar()
    return value if isinstance(value, datetime) else None


def demo_metrics(store: Any, since: datetime, period_minutes: int) -> list[dict[str, Any]]:
    """Per-agent-type metrics rows of the demo's periods (beat wrote them)."""
    from persistence.metrics import get_agent_metrics

    rows = get_agent_metrics(store, None, hours=2)
    keep = [
        r
        for r in rows
        if r["agent_id"] is None
        and r["period_duration_minutes"] == period_minutes
        and r["period_end"] > since
    ]
    return sorted(keep, key=lambda r: (r["period_start"], r["agent_type"]))


def _timeline(record: dict[str, Any]) -> dict[str, Any]:
    t0 = record["history"][0]["occurred_at"] if record["history"] else None
    return {
        "task_id": record["task_id"],
        "agent_type": record["agent_type"],
        "status": record["status"],
        "retry_count": record.get("retry_count") or 0,
        "error_message": record.get("error_message"),
        "events": [
            {
                "at_seconds": round((h["occurred_at"] - t0).total_seconds(), 3),
                "status": h["status"],
                "attempt": h["attempt"],
                "worker": h.get("worker"),
            }
            for h in record["history"]
        ],
    }


def collect_summary(store: Any, session_id: str) -> dict[str, Any]:
    """Executions of the run by agent type and status, plus a few timelines."""
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(_BY_TYPE_AND_STATUS, {"sid": session_id}).all()
        picked = [r[0] for r in conn.exec_driver_sql(_PICK_TIMELINES, {"sid": session_id})]
    by_type: dict[str, dict[str, int]] = {}
    by_status: Counter[str] = Counter()
    quality: dict[str, float] = {}
    retried = 0
    for agent_type, status, n, n_retried, avg_quality, _ in rows:
        by_type.setdefault(agent_type, {})[status] = int(n)
        by_status[status] += int(n)
        retried += int(n_retried)
        if status == "completed" and avg_quality is not None:
            quality[agent_type] = round(float(avg_quality), 4)
    records = [r for r in map(store.get_execution, picked) if r is not None]
    return {
        "session_id": session_id,
        "total": sum(by_status.values()),
        "by_status": dict(sorted(by_status.items())),
        "by_agent_type": by_type,
        "retried": retried,
        "avg_quality_completed": quality,
        "timelines": [_timeline(r) for r in records],
    }


def print_summary(summary: dict[str, Any], console: Console) -> None:
    statuses = sorted(summary["by_status"])
    table = Table(title=f"executions of session {summary['session_id']}")
    table.add_column("agent type")
    for status in statuses:
        table.add_column(status, justify="right")
    table.add_column("avg quality", justify="right")
    for agent_type, counts in sorted(summary["by_agent_type"].items()):
        q = summary["avg_quality_completed"].get(agent_type)
        cells = [str(counts.get(s, 0)) for s in statuses]
        table.add_row(agent_type, *cells, "-" if q is None else f"{q:.3f}")
    table.add_row("[bold]all[/]", *[f"[bold]{summary['by_status'][s]}[/]" for s in statuses], "")
    console.print(table)
    console.print(
        f"{summary['total']} executions, {summary['retried']} of them retried", highlight=False
    )
    for tl in summary["timelines"]:
        head = f"[bold]{tl['task_id']}[/] {tl['agent_type']} → {tl['status']}"
        if tl["error_message"]:
            head += f" ({tl['error_message'][:90]})"
        console.print(head, highlight=False)
        for e in tl["events"]:
            console.print(
                f"  +{e['at_seconds']:7.3f}s  {e['status']:<9} attempt {e['attempt']}"
                f"  {e['worker'] or ''}",
                highlight=False,
            )


def print_metrics(rows: list[dict[str, Any]], console: Console) -> None:
    if not rows:
        console.print("[yellow]no metrics rows yet (beat aggregates closed periods)[/]")
        return
    table = Table(title="agent_metrics rows written by beat (per agent type)")
    for name in ("period start", "agent type", "total", "ok", "failed", "success %"):
        table.add_column(
            name, justify="left" if name in ("period start", "agent type") else "right"
        )
    table.add_column("avg s", justify="right")
    table.add_column("quality", justify="right")
    for r in rows:
        table.add_row(
            r["period_start"].strftime("%H:%M"),
            r["agent_type"],
            str(r["total_tasks"]),
            str(r["tasks_completed"]),
            str(r["tasks_failed"]),
            f"{r['success_rate']:.1f}",
            f"{r['average_execution_time']:.3f}",
            f"{r['average_quality_score']:.3f}",
        )
    console.print(table)


def metrics_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = [
        *("agent_type", "period_start", "period_end", "total_tasks", "tasks_completed"),
        *("tasks_failed", "success_rate", "average_execution_time", "average_quality_score"),
    ]
    return [{k: r[k] for k in keys} for r in rows]
