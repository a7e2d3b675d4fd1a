"""``agentq demo``: the whole system in one command (see ``workers/demo/run.py``).

Exit codes are ``agentq``'s: 0 every execution reached a final state, 1 bad settings,
4 a service could not be started or reached, or a demo process died, 5 some executions
were not final before ``--timeout``, 130 interrupted (everything started was stopped).
"""

from __future__ import annotations

import sys

import click

from workers.cli import common


@click.command()
@click.option(
    "--tasks",
    "n_tasks",
    type=click.IntRange(min=1, max=100_000),
    default=24,
    show_default=True,
    help="How many agent tasks to enqueue.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds to wait for every execution to be final.",
)
@click.option(
    "--flower",
    "flower_port",
    type=int,
    is_flag=False,
    flag_value=5555,
    default=None,
    help="Also run Flower on 127.0.0.1:PORT (default 5555) and keep everything up until Ctrl-C.",
)
@click.option(
    "--page",
    "page_port",
    type=click.IntRange(1, 65535),
    is_flag=False,
    flag_value=8088,
    default=None,
    help="Also run agentq serve on 127.0.0.1:PORT (default 8088) with the live page (and"
    " agentq realtime if PUSHER_* is set), print its URL with a token, keep everything up"
    " until Ctrl-C.",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Leave the embedded PostgreSQL and Redis running afterwards (for agentq status,"
    " enqueue, up --worker --page …); agentq down stops them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(
    n_tasks: int,
    timeout: float,
    flower_port: int | None,
    page_port: int | None,
    keep: bool,
    as_json: bool,
) -> None:
    """Run a mixed batch of agent tasks on embedded (or the configured) Redis and PostgreSQL.

    Without CELERY_BROKER_URL / DATABASE_URL it starts PostgreSQL and Redis from pip
    wheels in the state directory (AGENTQ_STATE_DIR, default <AGENTQ_DATA_DIR>/embedded),
    or uses those of `agentq up` when they run; migrates, starts a worker and beat, runs
    the batch with a progress bar, prints what the database recorded, and stops everything
    it started (--keep: all but PostgreSQL and Redis).
    """
    from kombu.exceptions import OperationalError as BrokerError

    from persistence.errors import DatabaseUnavailable
    from workers.demo.embedded import EmbeddedUnavailable
    from workers.demo.run import DemoError, run_demo
    from workers.settings import get_settings, redact_url

    common.load_settings(embedded=False)  # the demo finds or starts its servers
    console = common.err_console if as_json else common.console
    try:
        summary = run_demo(
            n_tasks,
            console,
            timeout=timeout,
            flower_port=flower_port,
            page_port=page_port,
            show=not as_json,
            keep=keep,
        )
    except KeyboardInterrupt:
        common.err_console.print("interrupted: worker, beat and services stopped")
        sys.exit(common.EXIT_INTERRUPTED)
    except (EmbeddedUnavailable, DemoError) as exc:
        common.fail(str(exc), common.EXIT_UNAVAILABLE)
    except DatabaseUnavailable as exc:
        common.database_failed(exc)
    except BrokerError as exc:
        broker = redact_url(get_settings().broker_url)
        common.fail(f"broker {broker} unreachable: {exc}", common.EXIT_UNAVAILABLE)
    if as_json:
        common.print_json(summary)
    else:
        _print_epilogue(summary, console)
    sys.exit(0 if summary["complete"] else common.EXIT_DEGRADED)


def _print_epilogue(summary: dict, console: object) -> None:
    info = summary["services"]
    an_id = _an_id(summary)
    if info.get("kept"):
        lines = [
            "",
            "Worker and beat stopped; the embedded PostgreSQL and Redis keep running"
            f" (state in {info['state_dir']}), so with no setting:",
            f"  agentq status {an_id}                    # one execution's timeline",
            "  agentq up --worker --beat --page   # a worker, beat and the live page on this data",
            "  agentq enqueue quiz_generator --example   # one more task",
            "  agentq down                        # stop them all",
        ]
    else:
        lines = [
            "",
            "Everything the demo started is stopped.",
            "Keep the data reachable: agentq demo --keep   (then agentq status <id>, agentq up"
            " --worker --page, agentq down), or agentq up first",
            "See the tasks in Flower: agentq demo --flower   (Flower on"
            " http://127.0.0.1:5555/tasks while the demo runs; Ctrl-C stops all)",
            "Watch them live: agentq demo --page   (the operations page on http://127.0.0.1:8088/)",
        ]
        if info["embedded_postgres"] or info["embedded_redis"]:
            lines.append(
                f"Data: {info['state_dir']}/postgres (reused next run);"
                f" logs: {info['data_dir']}/demo/*.log"
            )
        else:
            lines.append(f"Data: in {info['database']} (session_id {summary['session_id']})")
            lines.append(f"Inspect one execution: agentq status {an_id}")
    for line in lines:
        console.print(line, highlight=False)  # type: ignore[attr-defined]


def _an_id(summary: dict) -> str:
    timelines = summary.get("timelines") or []
    return str(timelines[0]["task_id"]) if timelines else "<task id>"
