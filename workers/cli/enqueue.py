"""``agentq enqueue``: publish agent tasks through the producer API, one or many.

``--count N`` publishes N copies over one broker connection with a progress bar;
``--json`` prints the task ids as a JSON list. Exit codes are ``agentq``'s: 0 published,
1 bad input or settings (nothing published; a one-line message naming the field, never a
traceback), 4 broker unreachable.
"""

from __future__ import annotations

import json
from typing import Any

import click

from workers.cli import common


def _input_data(spec: Any, input_json: str | None, example: bool) -> Any:

    if example == (input_json is not None):
        common.fail("give exactly one of --input JSON or --example", common.EXIT_INVALID)
    if example:
        return spec.example
    try:
        return json.loads(str(input_json))
    except ValueError as exc:
        common.fail(f"--input is not valid JSON: {exc}", common.EXIT_INVALID)
    except RecursionError:  # json's parser recurses once per level
        from tasks.validation import MAX_INPUT_DEPTH

        common.fail(
            f"--input is nested too deeply to parse (the limit is {MAX_INPUT_DEPTH} levels)",
            common.EXIT_INVALID,
        )


def _priority(priority: str | None) -> int | str | None:
    """0-9 as an int; anything else stays a name for the producer to check."""
    return int(priority) if priority and priority.isdecimal() and len(priority) < 4 else priority


@click.command()
@click.argument("agent_type")
@click.option("--task-type", "task_type", help="The agent's task type (default: its example's).")
@click.option("--input", "input_json", help="input_data as a JSON object.")
@click.option("--example", is_flag=True, help="Use the agent's example input.")
@click.option("--user-id", help="UUID of the user the task is for.")
@click.option("--session-id", help="Session id the task belongs to.")
@click.option("--countdown", type=float, help="Run no earlier than this many seconds from now.")
@click.option("--priority", help="low, normal, high, urgent, critical (or 0-9).")
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Publish this many tasks (one connection, with a progress bar).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the task ids as a JSON list.")
def enqueue(
    agent_type: str,
    task_type: str | None,
    input_json: str | None,
    example: bool,
    user_id: str | None,
    session_id: str | None,
    countdown: float | None,
    priority: str | None,
    count: int,
    as_json: bool,
) -> None:
    """Enqueue agent tasks; prints their task ids (one a line, or --json)."""
    from kombu.exceptions import OperationalError as BrokerError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from tasks.registry import get_spec
    from workers import producer
    from workers.settings import get_settings, redact_url

    common.load_settings()
    ids: list[str] = []
    try:
        spec = get_spec(agent_type)
        input_data = _input_data(spec, input_json, example)
        prio = _priority(priority)
        from workers.app import app

        columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        progress = Progress(*columns, console=common.err_console, disable=count == 1)
        with app.producer_or_acquire() as conn_producer, progress:
            bar = progress.add_task("enqueue", total=count)
            for _ in range(count):
                ids.append(
                    producer.enqueue(
                        agent_type,
                        task_type or spec.example_task_type,
                        input_data,
                        user_id=user_id,
                        session_id=session_id,
                        countdown=countdown,
                        priority=prio,
                        producer=conn_producer,
                    )
                )
                progress.advance(bar)
    except ValueError as exc:  # the message may quote the input: no rich markup in it
        common.fail(str(exc), common.EXIT_INVALID)
    except BrokerError as exc:
        broker = redact_url(get_settings().broker_url)
        published = f" after publishing {len(ids)} of {count}" if ids else ""
        common.fail(f"broker {broker} unreachable{published}: {exc}", common.EXIT_UNAVAILABLE)
    if as_json:
        common.print_json(ids)
    else:
        click.echo("\n".join(ids))
