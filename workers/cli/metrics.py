"""``agentq metrics``: the aggregated metrics of the last hours, as a table or JSON.

Registered on the ``agentq`` group by ``workers/cli/__init__.py``; also runnable on its own:
``python -m workers.cli.metrics [--agent AGENT_ID] [--hours 24] [--json]``.
Exit codes are ``agentq``'s: 1 bad settings, 2 usage, 4 database unreachable.
"""

from __future__ import annotations

from typing import Any

import click

from workers.cli import common


@click.command()
@click.option("--agent", "agent_id", help="One instance: <agent_type>@<worker> (default: all).")
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True),
    default=24,
    show_default=True,
    help="Periods that ended within this many hours.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def metrics(agent_id: str | None, hours: float, as_json: bool) -> None:
    """Show agent metrics per period, newest first (per instance, and per type)."""
    from persistence.errors import DatabaseUnavailable, PersistenceError
    from persistence.metrics import get_agent_metrics
    from workers import stores

    settings = common.load_settings()
    store = stores.sql_store(settings, connect_timeout=5)
    try:
        rows = get_agent_metrics(store, agent_id, hours)
    except DatabaseUnavailable as exc:
        common.database_failed(exc)
    except PersistenceError as exc:
        common.fail(f"reading metrics failed: {exc}", common.EXIT_INVALID)
    finally:
        store.close()
    if as_json:
        common.print_json(rows)
        return
    _print_table(rows, common.console)


def _num(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _print_table(rows: list[dict[str, Any]], console: Any) -> None:
    from rich.table import Table

    if not rows:
        console.print("no metrics in this window")
        return
    table = Table(title="agent metrics (newest first)")
    for name in ("period start", "agent", "min", "total", "ok", "failed", "cancelled"):
        table.add_column(name, justify="left" if name in ("period start", "agent") else "right")
    for name in ("success %", "avg s", "p95 s", "tasks/min", "quality"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(
            r["period_start"].strftime("%Y-%m-%d %H:%M"),
            r["agent_id"] or f"{r['agent_type']} (all)",
            str(r["period_duration_minutes"]),
            str(r["total_tasks"]),
            str(r["tasks_completed"]),
            str(r["tasks_failed"]),
            str(r["tasks_cancelled"]),
            _num(r["success_rate"], "{:.1f}"),
            _num(r["average_execution_time"], "{:.3f}"),
            _num(r["p95_execution_time"], "{:.3f}"),
            _num(r["tasks_per_minute"]),
            _num(r["average_quality_score"], "{:.3f}"),
        )
    console.print(table)


if __name__ == "__main__":
    metrics()
