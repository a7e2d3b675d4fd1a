"""``agentq``: the operator's command line, one module per command.

Shared conventions (exit codes, failing with a message, settings, JSON) live in
:mod:`workers.cli.common`. Workers, beat and Flower are Celery's own commands:
``celery -A workers.app worker | beat | flower``.
"""

from __future__ import annotations

import click

from workers.cli.agents import agents
from workers.cli.dead_letters import dead_letters
from workers.cli.demo import demo
from workers.cli.enqueue import enqueue
from workers.cli.health import health
from workers.cli.metrics import metrics
from workers.cli.migrate import migrate
from workers.cli.realtime import realtime
from workers.cli.reconcile import reconcile
from workers.cli.recorder import recorder
from workers.cli.serve import serve
from workers.cli.soak import soak
from workers.cli.status import status
from workers.cli.token import token
from workers.cli.up import down, up


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """agent workers: Celery workers for the platform's AI agents, recorded in PostgreSQL.

    Workers, beat and Flower are Celery's own commands:
    celery -A workers.app worker | beat | flower

    Log level (stderr): LOG_LEVEL, else warnings only (serve and realtime: info);
    SUPABASE_DEBUG=true for Supabase's loggers; LOG_FORMAT=json for one JSON object per line.
    """
    from workers.logs import setup_cli_logging

    setup_cli_logging()


for _command, _name in (
    (status, "status"),
    (agents, "agents"),
    (recorder, "recorder"),
    (enqueue, "enqueue"),
    (health, "health"),
    (metrics, "metrics"),
    (migrate, "migrate"),
    (realtime, "realtime"),
    (serve, "serve"),
    (demo, "demo"),
    (dead_letters, "dead-letters"),
    (reconcile, "reconcile"),
    (soak, "soak"),
    (token, "token"),
    (up, "up"),
    (down, "down"),
):
    main.add_command(_command, name=_name)

__all__ = ["main"]
