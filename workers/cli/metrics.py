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
@click.option(
    "--instances", is_flag=True, help="One row per instance (agent@worker), not per agent type."
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows (both kinds) as JSON.")
def metrics(agent_id: str | None, hours: float, instances: bool, as_json: bool) -> None:
    """Show agent metrics per period, newest first: per agent type (--instances: per
    instance; --json: both)."""
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
    print_table(rows, common.console, instances=instances or agent_id is not None)


def _num(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


# Shown only when the console is wide enough: 8 columns fit 80.
WIDE = 110


def print_table(rows: list[dict[str, Any]], console: Any, *, instances: bool = False) -> None:
    """Per type (each agent once) or per instance; at 80 columns the essentials, each
    readable; from ``WIDE`` columns on also cancelled, tasks/min, quality."""
    from rich import box
    from rich.table import Table

    rows = [r for r in rows if (r["agent_id"] is not None) == instances]
    if not rows:
        console.print("no metrics in this window")
        return
    wide = console.width >= WIDE
    days = {r["period_start"].date() for r in rows}
    fmt = "%H:%M" if len(days) == 1 else "%m-%d %H:%M"
    minutes = sorted({r["period_duration_minutes"] for r in rows})
    span = "/".join(str(m) for m in minutes)
    title = f"agent metrics per {span}-minute period, newest first"
    if len(days) == 1:
        title += f" ({days.pop():%Y-%m-%d})"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("period", no_wrap=True)
    table.add_column("instance" if instances else "agent", overflow="fold", min_width=12)
    names = ["tasks", "ok", "failed", "ok %", "avg s", "p95 s"]
    names += ["cancelled", "tasks/min", "quality"] if wide else []
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        cells = [
            r["period_start"].strftime(fmt),
            r["agent_id"] or r["agent_type"],
            str(r["total_tasks"]),
            str(r["tasks_completed"]),
            str(r["tasks_failed"]),
            _num(r["success_rate"], "{:.0f}"),
            _num(r["average_execution_time"], "{:.2f}"),
            _num(r["p95_execution_time"], "{:.2f}"),
        ]
        if wide:
            cells += [
                str(r["tasks_cancelled"]),
                _num(r["tasks_per_minute"]),
                _num(r["average_quality_score"], "{:.2f}"),
            ]
        table.add_row(*cells)
    console.print(table)


if __name__ == "__main__":
    metrics()
