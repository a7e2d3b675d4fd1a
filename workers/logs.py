"""Log levels from the settings: ``LOG_LEVEL`` for every ``agentq`` command, the Celery
worker and beat (and the worker's recorder child), ``SUPABASE_DEBUG`` for the
Supabase-related loggers.

* ``agentq``: :func:`setup_cli_logging`, called by the group (and by the commands that run
  on their own); a command's own ``--log-level`` wins. With ``LOG_LEVEL`` unset a command
  logs warnings only (its output is what it prints), except the servers ``agentq serve``
  and ``agentq realtime``, which log at INFO.
* Celery: the app's logging class is :class:`CeleryLogging`. Celery's ``-l`` defaults to
  WARNING, so a level given on the command line (or as ``CELERY_WORKER_LOGLEVEL`` /
  ``CELERY_BEAT_LOGLEVEL``, Celery's own variables) is told from the default by asking
  click where the value came from; only the default is replaced by ``LOG_LEVEL``.
* ``SUPABASE_DEBUG=true``: DEBUG for :data:`SUPABASE_LOGGERS` only (the mirror, the
  outbox, the REST store, Supabase's health check, the store plan and the HTTP client
  supabase-py uses), whatever ``LOG_LEVEL`` says; everything else keeps its level.
* ``LOG_FORMAT=json``: every handler these set up writes JSON lines
  (:mod:`workers.log_json`) instead of text; the worker's and beat's banners are off
  (:mod:`workers.celery_programs`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.app.log import Logging

from workers.log_json import AgentqJsonFormatter, install_excepthook, json_handler

CLI_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SUPABASE_LOGGERS = (
    "persistence.mirror",
    "persistence.outbox",
    "persistence.supabase_rest",
    "workers.beat.mirror",
    "workers.health.supabase",
    "workers.stores",
    "workers.supabase_service",
    "httpx",
    "httpcore",
)
logger = logging.getLogger(__name__)


def _settings() -> Any:
    """The settings, or None when they are invalid (the command reports that itself)."""
    from workers.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError:
        return None


def configured_level(settings: Any = None) -> str:
    """``LOG_LEVEL`` (upper case); INFO when the settings cannot be read."""
    settings = settings if settings is not None else _settings()
    return str(getattr(settings, "log_level", "INFO")).upper()


def log_format(settings: Any = None) -> str:
    """``LOG_FORMAT`` (lower case). When the other settings are invalid the variable is read
    as is: the error saying so must come out in the format the operator asked for."""
    settings = settings if settings is not None else _settings()
    if settings is not None:
        return str(settings.log_format).lower()
    raw = os.environ.get("LOG_FORMAT", "").strip().lower()
    return "json" if raw == "json" else "text"


def json_logs(settings: Any = None) -> bool:
    return log_format(settings) == "json"


def say(message: str, level: int = logging.INFO, logger_name: str = "agentq") -> bool:
    """With ``LOG_FORMAT=json``, a command's own stderr line (an error, a server's "listening
    on") as a JSON line, whatever the log level: it is output, not a log at a level. Returns
    False in text mode: the caller prints it as before."""
    if not json_logs():
        return False
    record = logging.getLogger(logger_name).makeRecord(
        logger_name, level, __file__, 0, message, (), None
    )
    for handler in logging.getLogger().handlers:
        handler.handle(record)
    return True


def apply_supabase_debug(settings: Any = None) -> bool:
    """DEBUG for the Supabase-related loggers when ``SUPABASE_DEBUG`` is true."""
    settings = settings if settings is not None else _settings()
    if not getattr(settings, "supabase_debug", False):
        return False
    for name in SUPABASE_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    return True


def setup_cli_logging(level: str | None = None, default: str = "WARNING") -> None:
    """Root logging of an ``agentq`` command on stderr: ``level`` (a command's own option),
    else ``LOG_LEVEL`` when set, else ``default``; and ``SUPABASE_DEBUG``. Calling it
    again reconfigures."""
    settings = _settings()
    if level is None:
        given = settings is not None and "log_level" in settings.model_fields_set
        level = configured_level(settings) if given else default
    chosen = level.upper()
    if json_logs(settings):
        logging.basicConfig(level=chosen, handlers=[json_handler()], force=True)
        logging.captureWarnings(True)  # warnings.warn(...) too, not plain text on stderr
        install_excepthook()
    else:
        logging.basicConfig(level=chosen, format=CLI_FORMAT, force=True)
    supabase = apply_supabase_debug(settings)
    logger.debug("log level %s, supabase debug %s", chosen, "on" if supabase else "off")


def _level_from_command_line() -> bool:
    """True when the running ``celery worker|beat`` was given ``-l`` (or Celery's own
    environment variable for it); False for click's default or outside a command."""
    import click
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    if ctx is None or not any(p.name == "loglevel" for p in ctx.command.params):
        return True  # not a worker/beat command line: keep what the caller asked for
    return ctx.get_parameter_source("loglevel") not in (None, ParameterSource.DEFAULT)


class CeleryLogging(Logging):
    """Celery's logging setup, with ``LOG_LEVEL`` as the default of ``-l`` and
    ``SUPABASE_DEBUG`` applied. Pool processes get the level the main process chose
    (Celery passes it on in ``CELERY_LOG_LEVEL``)."""

    def setup(self, loglevel: Any = None, *args: Any, **kwargs: Any) -> Any:
        if not loglevel or not _level_from_command_line():
            loglevel = configured_level()
        handled = super().setup(loglevel, *args, **kwargs)
        apply_supabase_debug()
        return handled

    def setup_handlers(
        self, logger: Any, logfile: Any, format: Any, colorize: Any, **kwargs: Any
    ) -> Any:
        """Every handler Celery adds (root, multiprocessing, ``celery.task``; worker, pool
        and beat) gets the JSON formatter with ``LOG_FORMAT=json``, in place of Celery's
        text formatters (whose ``format`` / ``task_format`` it ignores)."""
        if not json_logs() or self._is_configured(logger):
            return super().setup_handlers(logger, logfile, format, colorize, **kwargs)
        handler = self._detect_handler(logfile)
        handler.setFormatter(AgentqJsonFormatter())
        logger.addHandler(handler)
        return logger
