"""``agentq health [--json]``: the system's health, and an exit code scripts can test.

Exit codes: 0 healthy, 5 degraded, 4 unhealthy (a service cannot be reached, as for
every ``agentq`` command), 1 invalid settings. Degraded has its own code so that
``agentq health`` in a probe can tell "working, but look" from "down" and from
"misconfigured".

Registered on the ``agentq`` group by ``workers/cli/main.py``; runnable on its own as
``python -m workers.cli.health``.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from workers.cli import common

EXIT_CODES = {"healthy": 0, "degraded": common.EXIT_DEGRADED, "unhealthy": common.EXIT_UNAVAILABLE}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--ping", is_flag=True, help="Also ping workers over the broker (1 s).")
def health(as_json: bool, ping: bool) -> None:
    """Check broker, database, Supabase, queues, workers, executions and recording.

    Exit code: 0 healthy, 5 degraded, 4 unhealthy, 1 invalid settings.
    """
    from workers.app import app
    from workers.health.report import health_check

    report = health_check(ping_app=app if ping else None)
    if as_json:
        common.print_json(report)
    else:
        _print(report)
    if "settings" in report["components"]:
        sys.exit(common.EXIT_INVALID)
    sys.exit(EXIT_CODES.get(report["status"], 4))


def _print(report: dict[str, Any]) -> None:
    colour = {"healthy": "green", "degraded": "yellow"}.get(report["status"], "red")
    common.console.print(
        f"[bold {colour}]{report['status']}[/]  ({report['response_time_ms']:.0f} ms)",
        highlight=False,
    )
    for reason in report["reasons"]:
        common.console.print(f"  - {reason}", highlight=False)
    table = Table("component", "ok", "details", box=None)
    for name, comp in report["components"].items():
        table.add_row(name, "yes" if comp.get("ok") else "[red]no[/]", _summary(name, comp))
    common.console.print(table)


def _summary(name: str, c: dict[str, Any]) -> str:
    if not c.get("ok"):
        return str(c.get("error", ""))
    if name in ("broker", "database") or (name == "supabase" and c.get("configured")):
        return f"{c.get('url', '')} {c.get('latency_ms', 0):.1f} ms"
    if name == "supabase":
        return str(c.get("status", "not configured"))
    if name == "queues":
        busy = {q: n for q, n in c.get("depth", {}).items() if n}
        return f"{c.get('total', 0)} waiting {busy or ''}"
    if name == "workers":
        return f"{c.get('online', 0)} instances online on {c.get('online_workers', [])}"
    if name == "executions":
        rate = c.get("error_rate")
        return (
            f"{c.get('by_status', {})} error rate "
            f"{'-' if rate is None else f'{rate:.1f} %'} p50 {c.get('p50_s')} p95 {c.get('p95_s')}"
        )
    if name == "mirror":
        return (
            f"{c.get('kind')} mirror: backlog {c.get('backlog')} rows "
            f"({c.get('backlog_items')} items), oldest {c.get('oldest_age_seconds')} s, "
            f"dead {c.get('dead')}"
        )
    if name == "recording":
        return f"backlog {c.get('backlog')} oldest {c.get('oldest_age_seconds')} s"
    return ""


if __name__ == "__main__":
    health()
