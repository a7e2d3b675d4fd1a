"""``LOG_FORMAT=json``: one JSON object per log line, built by python-json-logger.

Every line has ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``; and,
where the process knows them, ``task_id`` and ``agent_type`` (the task running in this
process, or the task a Celery line is about), ``worker`` (the worker's hostname, also in
its pool processes and its recorder child), ``trace_id`` (the active OpenTelemetry span,
when the ``opentelemetry`` API is installed) and ``exception`` (the formatted traceback).

The task context is read when a record is formatted, the way Celery's own
``TaskFormatter`` does it (``celery._state.get_current_task``): no signal handlers to
keep in step, and it works in every pool. Lines Celery writes *about* a task outside it
(``Task ... received`` in the worker's main process, ``succeeded`` / ``raised`` in the
pool) carry the task in ``record.data``; that dict also holds the task's arguments and
return value, which are left out: a log is no place for users' inputs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from datetime import UTC, datetime
from typing import IO, Any

from celery._state import get_current_task
from pythonjsonlogger.json import JsonFormatter

# LogRecord attribute -> JSON key.
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exception"}
# Celery's ``extra={"data": ...}`` (task arguments, return value): read, never written.
DROPPED = ("data",)

_worker: str | None = None
_trace_api: Any = None  # the opentelemetry.trace module, False when not installed


def set_worker(name: str | None) -> None:
    """The worker this process belongs to (its hostname); forked pool processes inherit it."""
    global _worker
    _worker = name or None


def agent_type_of(task_name: str) -> str | None:
    # Imported on first use: the task registry behind it is heavy for a command that
    # only sets logging up (`agentq --help`), and a process logging a task has it anyway.
    from workers.routing import agent_type_of as of_name

    return of_name(task_name)


def current_trace_id() -> str | None:
    """The active OpenTelemetry span's trace id (32 hex digits), or None: no API installed,
    no span, or an invalid one. Read defensively: tracing is optional."""
    global _trace_api
    if _trace_api is None:
        try:
            from opentelemetry import trace

            _trace_api = trace
        except ImportError:
            _trace_api = False
    if not _trace_api:
        return None
    try:
        ctx = _trace_api.get_current_span().get_span_context()
    except Exception:  # a broken tracer must never cost a log line
        return None
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def context_fields(record: logging.LogRecord) -> dict[str, Any]:
    """task_id, agent_type, worker and trace_id of a record, where known."""
    fields: dict[str, Any] = {}
    task = get_current_task()
    request = getattr(task, "request", None) if task is not None else None
    task_id = getattr(request, "id", None)
    if task_id:
        fields["task_id"] = task_id
        agent_type = getattr(task, "agent_type", None) or agent_type_of(task.name or "")
        worker = getattr(request, "hostname", None)
    else:
        data = getattr(record, "data", None)
        data = data if isinstance(data, dict) else {}
        if data.get("id"):
            fields["task_id"] = data["id"]
        agent_type = agent_type_of(str(data.get("name") or ""))
        worker = None
    if agent_type:
        fields["agent_type"] = agent_type
    if worker or _worker:
        fields["worker"] = worker or _worker
    trace_id = current_trace_id()
    if trace_id:
        fields["trace_id"] = trace_id
    return fields


class AgentqJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with our field names and the context fields."""

    def __init__(self) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields=RENAMED,
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # ISO 8601 in UTC, to the millisecond: what log stores parse without a hint.
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        for key in DROPPED:
            log_data.pop(key, None)
        for key, value in context_fields(record).items():
            log_data.setdefault(key, value)  # an explicit extra={"task_id": ...} wins


def json_handler(stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing JSON lines."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(AgentqJsonFormatter())
    return handler


def say_json(msg: str, f: Any = sys.__stderr__) -> None:
    """Celery's ``safe_say`` (the worker's shutdown notices, written from signal handlers)
    as a JSON line. Like the original it writes with one ``os.write``, no logging locks."""
    record = logging.LogRecord("celery.apps.worker", logging.WARNING, __file__, 0, msg, None, None)
    line = AgentqJsonFormatter().format(record) + "\n"
    # Best effort, as Celery's: a lost notice must not abort a shutdown.
    with contextlib.suppress(OSError, AttributeError, ValueError):
        os.write(f.fileno(), line.encode())


def install_excepthook() -> None:
    """An uncaught exception is logged as one JSON line (with its traceback) instead of
    Python's plain-text traceback."""

    def hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        logging.getLogger("agentq").critical("uncaught exception", exc_info=(kind, exc, tb))

    sys.excepthook = hook
