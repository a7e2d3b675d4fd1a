"""``agentq``: the operator's command line.

Exit codes scripts can rely on: 0 success, 1 bad input or settings, 2 usage error,
3 unknown task id, 4 a service (database, broker) cannot be reached (health: unhealthy),
5 degraded (health).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from persistence.errors import DatabaseUnavailable
from workers.cli_dead_letters import dead_letters as _dead_letters_command
from workers.cli_demo import demo as _demo_command
from workers.cli_enqueue import enqueue as _enqueue_command
from workers.cli_health import health as _health_command
from workers.cli_metrics import metrics as _metrics_command
from workers.cli_migrate import migrate as _migrate_command
from workers.cli_realtime import realtime as _realtime_command
from workers.cli_serve import serve as _serve_command
from workers.settings import SettingsError, get_settings

EXIT_INVALID = 1
EXIT_NOT_FOUND = 3
EXIT_UNAVAILABLE = 4

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


def _settings() -> Any:
    try:
        return get_settings()
    except SettingsError as exc:
        _fail(str(exc), EXIT_INVALID)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, default=_json_default, indent=2, sort_keys=True))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """agent workers: Celery workers for the platform's AI agents, recorded in PostgreSQL.

    Workers, beat and Flower are Celery's own commands:
    celery -A workers.app worker | beat | flower
    """


# --- status -----------------------------------------------------------------------
@main.command()
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def status(task_id: str, as_json: bool) -> None:
    """Show an execution: its row and its history (a timeline without --json)."""
    from workers import producer

    _settings()
    try:
        record = producer.get_execution(task_id)
    except DatabaseUnavailable as exc:
        _fail(f"database unreachable: {exc}", EXIT_UNAVAILABLE)
    if record is None:
        _fail(f"unknown task id {task_id}", EXIT_NOT_FOUND)
    if as_json:
        record["history"] = [
            {k: h.get(k) for k in ("status", "attempt", "occurred_at", "worker", "detail")}
            for h in record["history"]
        ]
        _print_json(record)
        return
    _print_timeline(record)


def _seconds(a: datetime | None, b: datetime | None) -> str:
    if a is None or b is None:
        return "-"
    return f"{(b - a).total_seconds():.3f}s"


def _print_timeline(r: dict[str, Any]) -> None:
    console.print(
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
    }
    for key, value in summary.items():
        console.print(f"  {key:<11} {value}", highlight=False)
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
    console.print(table)


# --- agents -----------------------------------------------------------------------
@main.command()
@click.option("--types", "show_types", is_flag=True, help="List agent types and input fields.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def agents(show_types: bool, as_json: bool) -> None:
    """The agent types: task types, queue, limits and input fields (agent instances: later)."""
    from tasks.registry import AGENT_TYPES, load_agents

    specs = load_agents()
    rows: list[dict[str, Any]] = []
    for agent_type in AGENT_TYPES:
        spec = specs.get(agent_type)
        if spec is None:
            rows.append({"agent_type": agent_type, "available": False})
            continue
        schema = spec.input_model.model_json_schema()
        required = set(schema.get("required", []))
        rows.append(
            {
                "agent_type": agent_type,
                "available": True,
                "description": spec.description,
                "queue": agent_type,
                "task_types": list(spec.task_types),
                "soft_time_limit": spec.soft_time_limit,
                "time_limit": spec.time_limit,
                "max_retries": spec.max_retries,
                "input_fields": {
                    name: {
                        "type": prop.get("type") or "object",
                        "required": name in required,
                        "description": prop.get("description", ""),
                    }
                    for name, prop in schema.get("properties", {}).items()
                },
            }
        )
    if as_json:
        _print_json(rows)
        return
    table = Table("agent type", "task types", "input fields (* required)", "limits (s)")
    for row in rows:
        if not row["available"]:
            table.add_row(row["agent_type"], "[dim]not available yet[/]", "", "")
            continue
        fields = ", ".join(
            f"{name}{'*' if f['required'] else ''}" for name, f in row["input_fields"].items()
        )
        table.add_row(
            row["agent_type"],
            ", ".join(row["task_types"]),
            fields if show_types else f"{len(row['input_fields'])} fields",
            f"{row['soft_time_limit']:g}/{row['time_limit']:g}",
        )
    console.print(table)


# --- recorder ---------------------------------------------------------------------
@main.command()
@click.option("--name", help="Consumer name (default: host name and pid).")
def recorder(name: str | None) -> None:
    """Run a standalone recorder (workers run one each unless AGENTQ_EMBEDDED_RECORDER=false)."""
    import os
    import signal
    import socket
    import threading

    from workers.recorder_process import build_recorder

    settings = _settings()
    rec = build_recorder(settings, name or f"recorder-{socket.gethostname()}-{os.getpid()}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    rec.start()
    console.print(f"recorder {rec.consumer} running; Ctrl-C to stop", highlight=False)
    done.wait()
    rec.stop()
    rec.store.close()


# --- health (workers/cli_health.py) ---------------------------------------------------
main.add_command(_health_command, name="health")
main.add_command(_metrics_command, name="metrics")
main.add_command(_migrate_command, name="migrate")
main.add_command(_realtime_command, name="realtime")
main.add_command(_enqueue_command, name="enqueue")
main.add_command(_demo_command, name="demo")
main.add_command(_serve_command, name="serve")
main.add_command(_dead_letters_command, name="dead-letters")


if __name__ == "__main__":
    main()
