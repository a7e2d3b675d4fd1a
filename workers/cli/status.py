"""``agentq status TASK_ID [--json]``: an execution, its row and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.table import Table

from persistence import task_ids
from persistence.errors import DatabaseUnavailable
from workers.cli import common


@click.command()
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def status(task_id: str, as_json: bool) -> None:
    """Show an execution: its row and its history (a timeline without --json)."""
    from workers import producer

    problem = task_ids.task_id_problem(task_id)  # the one rule for ids, as enqueue's
    if problem is not None:
        common.fail(f"{task_ids.show(task_id)} is not a task id: it {problem}")
    common.load_settings()
    try:
        record = producer.get_execution(task_id)
    except DatabaseUnavailable as exc:
        common.database_failed(exc)
    if record is None:
        common.fail(f"unknown task id {task_id}", common.EXIT_NOT_FOUND)
    if as_json:
        record["history"] = [
            {k: h.get(k) for k in ("status", "attempt", "occurred_at", "worker", "detail")}
            for h in record["history"]
        ]
        common.print_json(record)
        return
    _print_timeline(record)


def _seconds(a: datetime | None, b: datetime | None) -> str:
    if a is None or b is None:
        return "-"
    return f"{(b - a).total_seconds():.3f}s"


def _print_timeline(r: dict[str, Any]) -> None:
    common.console.print(
        f"[bold]{r['task_id']}[/]  {r['agent_type']} / {r['task_type']}  "
        f"status [bold]{r['status']}[/]",
        highlight=False,
    )
    first_queued = next((h for h in r["history"] if h["status"] == "queued"), None)
    first_run = next((h for h in r["history"] if h["status"] == "running"), None)
    summary = {
        "queued for": _seconds(
            first_queued and first_queued["occurred_at"], first_run and first_run["occurred_at"]
        ),
        "ran on": r.get("worker") or "-",
        "attempts": f"{r.get('attempts', 0)} run(s), retry {r.get('retry_count', 0)}"
        f" of max {r.get('max_retries')}",
        "duration": f"{r['execution_time_seconds']:.3f}s"
        if r.get("execution_time_seconds") is not None
        else "-",
        "quality": r.get("quality_score") if r.get("quality_score") is not None else "-",
        "error": f"{r.get('error_type')}: {r.get('error_message')}"
        if r.get("error_message")
        else "-",
        # the OpenTelemetry trace of the task (docs/observability.md#traces)
        "trace": r.get("trace_id") or "-",
    }
    for key, value in summary.items():
        common.console.print(f"  {key:<11} {value}", highlight=False)
    table = Table("time", "status", "attempt", "worker", "detail", box=None)
    for h in r["history"]:
        detail = h.get("detail") or {}
        table.add_row(
            h["occurred_at"].isoformat(timespec="milliseconds"),
            h["status"],
            str(h["attempt"]),
            h.get("worker") or "",
            detail.get("error_message") or "",
        )
    common.console.print(table)
