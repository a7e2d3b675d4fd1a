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

from persistence.errors import DatabaseUnavailable, PersistenceError
from workers.cli_health import health as _health_command
from workers.cli_metrics import metrics as _metrics_command
from workers.settings import SettingsError, get_settings, redact_url

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


# --- migrate ----------------------------------------------------------------------
@main.command()
@click.option("--sql", "as_sql", is_flag=True, help="Print the SQL instead of applying it.")
@click.option("--status", "show_status", is_flag=True, help="Show current and pending revisions.")
@click.option("--check", is_flag=True, help="Report drift between the models and the database.")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def migrate(as_sql: bool, show_status: bool, check: bool, revision: str) -> None:
    """Create or upgrade the schema in DATABASE_URL (idempotent, safe to run concurrently)."""
    from persistence.migration_service import MigrationService

    settings = _settings()
    service = MigrationService(settings.sqlalchemy_url)
    target = redact_url(settings.database_url.get_secret_value())
    try:
        if as_sql:
            click.echo(service.render_sql(revision))
            return
        if show_status:
            _print_json(service.get_migration_status())
            return
        if check:
            drift = service.sync_schemas()
            _print_json(drift)
            sys.exit(0 if drift["in_sync"] else EXIT_INVALID)
        with console.status(f"migrating {target} to {revision}…"):
            current = service.run_migrations(revision)
        console.print(f"[green]database {target} is at revision {current}[/]", highlight=False)
    except DatabaseUnavailable as exc:
        _fail(f"database {target} unreachable: {exc}", EXIT_UNAVAILABLE)
    except PersistenceError as exc:
        _fail(f"migration failed on {target}: {exc}", EXIT_INVALID)


# --- enqueue ----------------------------------------------------------------------
@main.command()
@click.argument("agent_type")
@click.option("--task-type", "task_type", help="The agent's task type (default: its example's).")
@click.option("--input", "input_json", help="input_data as a JSON object.")
@click.option("--example", is_flag=True, help="Use the agent's example input.")
@click.option("--user-id", help="UUID of the user the task is for.")
@click.option("--session-id", help="Session id the task belongs to.")
@click.option("--countdown", type=float, help="Run no earlier than this many seconds from now.")
@click.option("--priority", help="low, normal, high, urgent, critical (or 0-9).")
def enqueue(
    agent_type: str,
    task_type: str | None,
    input_json: str | None,
    example: bool,
    user_id: str | None,
    session_id: str | None,
    countdown: float | None,
    priority: str | None,
) -> None:
    """Enqueue one agent task; prints its task id."""
    from kombu.exceptions import OperationalError as BrokerError

    from tasks.registry import get_spec
    from workers import producer

    _settings()
    if example == (input_json is not None):
        _fail("give exactly one of --input JSON or --example", EXIT_INVALID)
    try:
        spec = get_spec(agent_type)
        if example:
            input_data: Any = spec.example
        else:
            try:
                input_data = json.loads(str(input_json))
            except ValueError as exc:
                _fail(f"--input is not valid JSON: {exc}", EXIT_INVALID)
        prio: int | str | None = int(priority) if priority and priority.isdigit() else priority
        task_id = producer.enqueue(
            agent_type,
            task_type or spec.example_task_type,
            input_data,
            user_id=user_id,
            session_id=session_id,
            countdown=countdown,
            priority=prio,
        )
    except ValueError as exc:
        _fail(str(exc), EXIT_INVALID)
    except BrokerError as exc:
        broker = redact_url(get_settings().broker_url)
        _fail(f"broker {broker} unreachable: {exc}", EXIT_UNAVAILABLE)
    click.echo(task_id)


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


# --- demo -------------------------------------------------------------------------
@main.command()
@click.option("--tasks", "n_tasks", default=12, show_default=True, help="How many tasks.")
def demo(n_tasks: int) -> None:
    """Migrate, start a worker, run a batch of agent tasks and summarise them."""
    from kombu.exceptions import OperationalError as BrokerError

    from workers.demo import run_demo

    settings = _settings()
    try:
        sys.exit(run_demo(settings, n_tasks, console))
    except DatabaseUnavailable as exc:
        _fail(f"database unreachable: {exc}", EXIT_UNAVAILABLE)
    except BrokerError as exc:
        _fail(f"broker {redact_url(settings.broker_url)} unreachable: {exc}", EXIT_UNAVAILABLE)


# --- recorder ---------------------------------------------------------------------
@main.command()
@click.option("--name", help="Consumer name (default: host name and pid).")
def recorder(name: str | None) -> None:
    """Run a standalone recorder (workers run one each unless AGENTQ_EMBEDDED_RECORDER=false)."""
    import os
    import signal
    import socket
    import threading

    from persistence.sql_store import SQLStore
    from workers.recorder import Recorder

    settings = _settings()
    store = SQLStore(settings.sqlalchemy_url, pool_size=2)
    rec = Recorder(
        settings.recorder_redis_url,
        store,
        stream=settings.events_stream,
        consumer=name or f"recorder-{socket.gethostname()}-{os.getpid()}",
        batch_size=settings.recorder_batch_size,
        block_ms=settings.recorder_block_ms,
        batch_window_ms=settings.recorder_batch_window_ms,
        claim_idle_ms=settings.recorder_claim_idle_ms,
        spool_dir=settings.spool_dir,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    rec.start()
    console.print(f"recorder {rec.consumer} running; Ctrl-C to stop", highlight=False)
    done.wait()
    rec.stop()
    store.close()


# --- health (workers/cli_health.py) ---------------------------------------------------
main.add_command(_health_command, name="health")
main.add_command(_metrics_command, name="metrics")


if __name__ == "__main__":
    main()
