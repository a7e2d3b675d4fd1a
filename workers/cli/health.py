"""``agentq health [--json]``: the system's health, and an exit code scripts can test.

Exit codes: 0 healthy, 5 degraded, 4 unhealthy (a service cannot be reached, as for
every ``agentq`` command), 1 invalid settings. Degraded has its own code so that
``agentq health`` in a probe can tell "working, but look" from "down" and from
"misconfigured".

Registered on the ``agentq`` group by ``workers/cli/__init__.py``; runnable on its own as
``python -m workers.cli.health``.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape
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
    from workers.local.state import use_embedded_when_unset

    problem = use_embedded_when_unset()  # before workers.app reads the settings
    if problem is not None:
        common.fail(problem, common.EXIT_UNAVAILABLE)
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
    common.console.print(
        f"{_coloured(report['status'])}  ({report['response_time_ms']:.0f} ms)",
        highlight=False,
    )
    for reason in report["reasons"]:
        common.console.print(f"  - {escape(reason)}", highlight=False)
    table = Table("component", "ok", box=None)
    table.add_column("details", overflow="fold")  # wrap, never cut (URLs, errors)
    for name, comp in report["components"].items():
        table.add_row(name, _ok(comp), escape(_summary(name, comp)))
    common.console.print(table, highlight=False)


def _coloured(status: str) -> str:
    colour = {"healthy": "green", "degraded": "yellow"}.get(status, "red")
    return f"[bold {colour}]{status}[/]"


def _ok(comp: dict[str, Any]) -> str:
    """yes / no (the check failed), or the component's own verdict when it has one."""
    if not comp.get("ok"):
        return "[red]no[/]"
    status = comp.get("status")
    return _coloured(status) if status in ("degraded", "unhealthy") else "yes"


def _n(value: Any, fmt: str = "{}", unit: str = "") -> str:
    """A value for people: "none" instead of None."""
    return "none" if value is None else fmt.format(value) + unit


def _counts(counts: dict[str, int] | None, empty: str) -> str:
    """``{"a": 2, "b": 0}`` as "a 2", or ``empty`` when nothing is counted."""
    shown = [f"{k} {v}" for k, v in (counts or {}).items() if v]
    return ", ".join(shown) or empty


def _summary(name: str, c: dict[str, Any]) -> str:
    if not c.get("ok"):
        return str(c.get("error") or "")
    if name in ("broker", "database") or (name == "supabase" and c.get("configured")):
        return f"{c.get('url', '')} {_n(c.get('latency_ms'), '{:.1f}', ' ms')}"
    if name == "supabase":
        return str(c.get("status", "not configured"))
    if name == "queues":
        return f"{c.get('total', 0)} waiting" + (
            f" ({_counts(c.get('depth'), '')})" if c.get("total") else ""
        )
    if name == "workers":
        online = ", ".join(c.get("online_workers") or []) or "none"
        text = f"{c.get('online', 0)} instances online, workers: {online}"
        missing = c.get("queues_without_consumer") or []
        if c.get("online") and missing:
            text += f"; queues without a live consumer: {', '.join(missing)}"
        for stall in c.get("stalled") or []:
            text += f"; STALLED {stall['worker']}: {stall['why']}"
        return text
    if name == "executions":
        rate = c.get("error_rate")
        return (
            f"{_counts(c.get('by_status'), 'none in the window')}; error rate "
            f"{_n(rate, '{:.1f}', ' %')}; p50 {_n(c.get('p50_s'), '{:.3f}', ' s')}"
            f" p95 {_n(c.get('p95_s'), '{:.3f}', ' s')}"
        )
    if name == "mirror":
        return (
            f"{c.get('kind')} mirror: backlog {_n(c.get('backlog'))} rows "
            f"({_n(c.get('backlog_items'))} items), oldest "
            f"{_n(c.get('oldest_age_seconds'), '{:.0f}', ' s')}, dead {_n(c.get('dead'))}"
        )
    if name == "recording":
        return (
            f"backlog {_n(c.get('backlog'))}, oldest "
            f"{_n(c.get('oldest_age_seconds'), '{:.1f}', ' s')}"
        )
    return ""


if __name__ == "__main__":
    health()
