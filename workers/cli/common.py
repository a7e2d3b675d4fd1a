"""What every ``agentq`` command shares: exit codes, the consoles, failing with a message,
loading the settings, printing JSON.

Exit codes scripts can rely on: 0 success, 1 bad input or settings, 2 usage error (click),
3 unknown task id, 4 a service (database, broker) cannot be reached (health: unhealthy),
5 degraded (health, demo), 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from persistence.formatting import json_default

EXIT_INVALID = 1
EXIT_NOT_FOUND = 3
EXIT_UNAVAILABLE = 4
EXIT_DEGRADED = 5
EXIT_INTERRUPTED = 130

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print ``error: message`` on stderr (a JSON line with LOG_FORMAT=json) and exit
    with ``code``."""
    from workers.logs import say

    if not say(f"error: {message}", logging.ERROR):
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    sys.exit(code)


def database_failed(exc: Exception) -> NoReturn:
    """Exit 4 for a database error: not ready (missing, not migrated: the message names
    ``agentq migrate``) or unreachable."""
    from persistence.errors import SchemaNotReady

    label = "database not ready" if isinstance(exc, SchemaNotReady) else "database unreachable"
    fail(f"{label}: {exc}", EXIT_UNAVAILABLE)


def load_settings(*, embedded: bool = True) -> Any:
    """The settings, or exit 1 naming the variable that is wrong. With ``embedded``,
    ``DATABASE_URL`` / ``CELERY_BROKER_URL`` unset mean the servers of ``agentq up``: used
    when they run, else exit 4 saying how to start them."""
    from workers.local.state import use_embedded_when_unset
    from workers.settings import SettingsError, get_settings

    if embedded:
        problem = use_embedded_when_unset()
        if problem is not None:
            fail(problem, EXIT_UNAVAILABLE)
    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc), EXIT_INVALID)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, default=json_default, indent=2, sort_keys=True))
