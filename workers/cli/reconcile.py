"""``agentq reconcile [--json] [--repair] [--grace SECONDS]``: the record against the broker.

One pass of :func:`workers.reconcile.reconcile_once` (docs/reconcile.md): every kind with
its count, examples and what was done. Exit codes are ``agentq``'s: 0 nothing found (or
all of it repaired), 5 differences left, 1 bad input or settings, 4 Redis or the database
unreachable.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from workers.cli import common


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--repair",
    is_flag=True,
    help="Repair: publish lost tasks again, create unrecorded rows, set expired / revoked final.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds a row may wait for a message that is nowhere (default AGENTQ_RECONCILE_GRACE).",
)
def reconcile(as_json: bool, repair: bool, grace: float | None) -> None:
    """Compare the broker's messages with the recorded executions; repair with --repair."""
    import redis

    from persistence.errors import DatabaseUnavailable, SchemaNotReady
    from workers.reconcile import reconcile_once

    settings = common.load_settings()
    try:
        report = reconcile_once(repair=repair, grace_s=grace, settings=settings)
    except redis.RedisError as exc:
        common.fail(f"Redis unreachable: {exc}", common.EXIT_UNAVAILABLE)
    except (DatabaseUnavailable, SchemaNotReady) as exc:
        common.fail(f"database unavailable: {exc}", common.EXIT_UNAVAILABLE)
    data = report.to_json()
    if as_json:
        common.print_json(data)
    else:
        _print(data)
    left = sum(data["counts"].values()) - sum(data["repaired"].values())
    if left:
        raise SystemExit(common.EXIT_DEGRADED)


def _print(data: dict[str, Any]) -> None:
    common.console.print(
        f"reconciled {data['open_rows']} open executions against {data['messages']} messages "
        f"in {data['seconds']:.2f} s (grace {data['grace_seconds']:.0f} s, "
        f"repair {'on' if data['repair'] else 'off'})",
        highlight=False,
    )
    table = Table("kind", "found", "repaired", "what was done", box=None)
    for kind, n in data["counts"].items():
        table.add_row(kind, str(n), str(data["repaired"][kind]), data["actions"].get(kind, ""))
    common.console.print(table)
    for kind, examples in data["examples"].items():
        for ex in examples:
            common.console.print(
                f"  {kind:<10} {ex['task_id']}  {ex['agent_type'] or '-'}  attempt "
                f"{ex['attempt']}  {ex['age_seconds']:.0f} s  at {ex['where']}: {ex['detail']}",
                highlight=False,
            )
