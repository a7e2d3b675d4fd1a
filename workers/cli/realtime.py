"""``agentq realtime``: run the bridge from database changes to Pusher until stopped.

Exit codes as for every ``agentq`` command: 1 missing or bad settings (``PUSHER_*``,
``AGENTQ_REALTIME_*``; ``SUPABASE_ENABLE_REALTIME=false``; no SQL connection to LISTEN on,
as with ``SUPABASE_URL`` alone) or a database without the change feed (run ``agentq migrate``),
4 the database cannot be reached at start (later losses are retried, never fatal).

Registered on the ``agentq`` group by ``workers/cli/__init__.py``; runnable on its own as
``python -m workers.cli.realtime``.
"""

from __future__ import annotations

import json
import logging
import signal
import threading

import click

from workers.cli import common


@click.command()
@click.option(
    "--status-every",
    type=float,
    default=60.0,
    show_default=True,
    help="Log the counters every N seconds (0: never).",
)
def realtime(status_every: float) -> None:
    """Push committed changes of executions, agents, metrics and health to Pusher channels.

    Listens on the primary database: DATABASE_URL, or Supabase's (SUPABASE_DB_*)."""
    from workers.logs import setup_cli_logging
    from workers.realtime.config import RealtimeConfig
    from workers.realtime.listener import DatabaseGone
    from workers.realtime.service import RealtimeIntegrationService, RealtimeNotInstalled
    from workers.settings import SettingsError

    setup_cli_logging(default="INFO")  # a server: INFO unless LOG_LEVEL says otherwise
    try:
        config = RealtimeConfig.from_settings(common.load_settings())
    except SettingsError as exc:  # PUSHER_*, AGENTQ_REALTIME_*, the database, or disabled
        common.fail(str(exc), common.EXIT_INVALID)
    service = RealtimeIntegrationService(config)
    try:
        service.start()
    except RealtimeNotInstalled as exc:
        common.fail(f"{config.database_display}: {exc}", common.EXIT_INVALID)
    except DatabaseGone as exc:
        common.fail(
            f"database {config.database_display} unreachable: {exc}", common.EXIT_UNAVAILABLE
        )
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
