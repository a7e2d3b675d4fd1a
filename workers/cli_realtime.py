"""``agentq realtime``: run the bridge from database changes to Pusher until stopped.

Exit codes as for every ``agentq`` command: 1 missing or bad settings (``PUSHER_*``,
``AGENTQ_REALTIME_*``) or a database without the change feed (run ``agentq migrate``),
4 the database cannot be reached at start (later losses are retried, never fatal).

Registered on the ``agentq`` group by ``workers/cli.py``; runnable on its own as
``python -m workers.cli_realtime``.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading

import click
from rich.console import Console

EXIT_SETTINGS = 1
EXIT_UNAVAILABLE = 4

err_console = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


@click.command()
@click.option(
    "--status-every",
    type=float,
    default=60.0,
    show_default=True,
    help="Log the counters every N seconds (0: never).",
)
def realtime(status_every: float) -> None:
    """Push committed changes of executions, agents and metrics to Pusher channels."""
    from workers.realtime.config import RealtimeConfig
    from workers.realtime.listener import DatabaseGone
    from workers.realtime.service import RealtimeIntegrationService, RealtimeNotInstalled
    from workers.settings import SettingsError, get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = RealtimeConfig.from_settings(get_settings())
    except SettingsError as exc:
        _fail(str(exc), EXIT_SETTINGS)
        return
    service = RealtimeIntegrationService(config)
    try:
        service.start()
    except RealtimeNotInstalled as exc:
        _fail(f"{config.database_display}: {exc}", EXIT_SETTINGS)
    except DatabaseGone as exc:
        _fail(f"database {config.database_display} unreachable: {exc}", EXIT_UNAVAILABLE)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(status_every or None):
        logging.getLogger("workers.realtime").info(
            "realtime status %s", json.dumps(service.get_status(), default=str)
        )
    service.stop()
    logging.getLogger("workers.realtime").info(
        "realtime stopped: %s", json.dumps(service.get_status(), default=str)
    )


if __name__ == "__main__":
    realtime()
