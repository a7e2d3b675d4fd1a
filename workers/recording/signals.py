"""Lifecycle hooks: translate Celery signals into transition events.

Each handler only builds a small dict and hands it to the process's
:class:`workers.recording.sink.EventSink` (one XADD); the recorder writes PostgreSQL. See
docs/architecture.md for the table of signals (where each fires, what it records) and
the precedence rule that makes order and duplicates harmless.

A handler never raises into Celery: telemetry must not fail the work. Handlers are
module-level functions, so Celery's weak references keep them alive.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Any

from celery import signals

from persistence import wire
from persistence.lifecycle import stable_event_id
from workers.recording import request
from workers.recording.held_running import running_event_id
from workers.recording.hook_state import HookState
from workers.recording.sink import EventSink
from workers.routing import agent_type_of, priority_name
from workers.settings import Settings, get_settings
from workers.tracing.context import HEADER as TRACE_HEADER
from workers.tracing.context import trace_id, traceparent

logger = logging.getLogger(__name__)

# Everything the hooks keep between signals, in one object (hook_state.py).
state = HookState()


def get_sink() -> EventSink | None:
    """This process's sink, created after fork on first use; None when recording is off."""
    return state.sink()


@signals.worker_init.connect
def _on_worker_init(**_: Any) -> None:
    state.in_worker = True  # inherited by the pool processes forked later


def flush() -> None:
    """Wait for Redis's reply to every event this process sent (at shutdown)."""
    state.flush()


@signals.worker_process_shutdown.connect
def _on_process_shutdown(**_: Any) -> None:
    held = state.take_held()
    if held is not None:
        state.emit([held])
    state.flush()


def _confirm_mode(s: Settings) -> str:
    return state.confirm_mode(s)


def reset() -> None:
    """Forget the process's sink and settings (tests change the environment)."""
    state.reset()


def _emit(evs: list[dict[str, Any]], final: bool = True) -> None:
    state.emit(evs, final)


def _new_id() -> str:
    return uuid.uuid4().hex


def _with_held(ev: dict[str, Any]) -> list[dict[str, Any]]:
    """The task's last event, preceded by its ``running`` if that is still held."""
    held = state.take_held()
    return [ev] if held is None else [held, ev]


def _error(exc: BaseException | None) -> dict[str, Any]:
    if exc is None:
        return {"error_message": None, "error_type": None}
    return {
        "error_message": str(exc)[:2000] or type(exc).__name__,
        "error_type": type(exc).__name__,
    }


# --- publishing process: producer, beat, or a pool child calling retry() ----------
@signals.before_task_publish.connect
def on_before_publish(
    sender: str | None = None,
    headers: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    if sender is None or headers is None or agent_type_of(sender) is None:
        return
    key = (headers["id"], headers.get("retries") or 0)
    state.publish_started(key, time.time(), (properties or {}).get("priority"))


@signals.after_task_publish.connect
def on_after_publish(
    sender: str | None = None,
    body: Any = None,
    headers: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    agent_type = agent_type_of(sender or "")
    if agent_type is None or headers is None:
        return
    try:
        task_id = headers["id"]
        attempt = headers.get("retries") or 0
        published_at, priority = state.publishing.pop((task_id, attempt), (None, None))
        now = time.time()
        kwargs = body[1] if isinstance(body, (tuple, list)) and len(body) > 1 else {}
        task_type = str(kwargs.get("task_type", ""))
        tp = traceparent(headers.get(TRACE_HEADER))  # set by workers/tracing when on
        evs = []
        if attempt == 0:
            request = {
                "input_data": kwargs.get("input_data"),
                "user_id": kwargs.get("user_id"),
                "session_id": kwargs.get("session_id"),
                "priority": priority_name(priority),
            }
            if headers.get("eta"):
                request["eta"] = headers["eta"]
            if tp is not None:
                request["trace_id"] = trace_id(tp)
            evs.append(
                wire.transition(
                    event_id=stable_event_id(task_id, 0, "pending").hex,
                    task_id=task_id,
                    status="pending",
                    attempt=0,
                    at=published_at or now,
                    agent_type=agent_type,
                    task_type=task_type,
                    request=request,
                    trace=tp,
                )
            )
        # Stable ids: after_task_publish has been seen firing twice for one publish.
        evs.append(
            wire.transition(
                event_id=stable_event_id(task_id, attempt, "queued").hex,
                task_id=task_id,
                status="queued",
                attempt=attempt,
                # The time the publish began, as pending's: a worker may start the task
                # before this hook runs (a retry published from a busy pool process).
                at=published_at or now,
                agent_type=agent_type,
                task_type=task_type,
                trace=tp,
            )
        )
        _emit(evs)
    except Exception:
        logger.exception("could not record publish", extra={"action": "emit_failed"})


# --- the process running the task -------------------------------------------------
@signals.task_prerun.connect
def on_prerun(task_id: str | None = None, task: Any = None, kwargs: Any = None, **_: Any) -> None:
    agent_type = agent_type_of(getattr(task, "name", "") or "")
    if agent_type is None or task_id is None:
        return
    req = task.request
    req.agentq_started = time.perf_counter()
    attempt = req.retries or 0
    held = state.held_running()
    ev = wire.transition(
        event_id=running_event_id(task_id, attempt, req.hostname, os.getpid())
        if held is not None
        else _new_id(),
        task_id=task_id,
        status="running",
        attempt=attempt,
        at=time.time(),
        agent_type=agent_type,
        task_type=str((kwargs or {}).get("task_type", "")),
        worker=req.hostname,
        trace=_trace(req),
    )
    if held is not None:
        held.hold(ev)  # sent with the task's end, or on its own when the hold expires
    else:
        # the task's end follows in this process, and waits for both replies
        _emit([ev], final=False)


def _trace(req: Any) -> str | None:
    return traceparent(getattr(req, TRACE_HEADER, None))  # a message header: a request attr


def _elapsed(req: Any) -> float | None:
    started = getattr(req, "agentq_started", None)
    return None if started is None else round(time.perf_counter() - started, 6)


@signals.task_success.connect
def on_success(sender: Any = None, result: Any = None, **_: Any) -> None:
    agent_type = agent_type_of(getattr(sender, "name", "") or "")
    if agent_type is None:
        return
    req = sender.request
    out = result if isinstance(result, dict) else {"output_data": result}
    _emit(
        _with_held(
            wire.transition(
                event_id=_new_id(),
                task_id=req.id,
                status="completed",
                attempt=req.retries or 0,
                at=time.time(),
                agent_type=agent_type,
                task_type=str((req.kwargs or {}).get("task_type", "")),
                worker=req.hostname,
                result={
                    "output_data": out.get("output_data"),
                    "quality_score": out.get("quality_score"),
                    "execution_time_seconds": _elapsed(req),
                },
                trace=_trace(req),
            )
        )
    )


@signals.task_retry.connect
def on_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    agent_type = agent_type_of(getattr(sender, "name", "") or "")
    if agent_type is None or request is None:
        return
    # Celery passes its Retry wrapper; the cause is what the history should show.
    exc = getattr(reason, "exc", None) or (reason if isinstance(reason, BaseException) else None)
    result: dict[str, Any] = (
        _error(exc) if exc else {"error_message": str(reason), "error_type": "Retry"}
    )
    result["execution_time_seconds"] = _elapsed(request)
    _emit(
        _with_held(
            wire.transition(
                event_id=_new_id(),
                task_id=request.id,
                status="retrying",
                attempt=request.retries or 0,
                at=time.time(),
                agent_type=agent_type,
                task_type=str((request.kwargs or {}).get("task_type", "")),
                worker=request.hostname,
                result=result,
                trace=_trace(request),
            )
        )
    )


@signals.task_failure.connect
def on_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    kwargs: Any = None,
    einfo: Any = None,
    **_: Any,
) -> None:
    agent_type = agent_type_of(getattr(sender, "name", "") or "")
    if agent_type is None or task_id is None:
        return
    req = sender.request
    in_task = req.id == task_id
    if in_task:
        attempt, worker, event_id = req.retries or 0, req.hostname, _new_id()
    else:
        # Main process (worker lost, hard time limit): no task context. This can fire
        # twice for one failure, so the id is derived from the task and attempt.
        attempt = state.received_attempts.get(task_id, 0)
        worker = state.worker_hostname or socket.gethostname()
        event_id = stable_event_id(task_id, attempt, "failed", "main").hex
    result = _error(exception)
    result["execution_time_seconds"] = _elapsed(req) if in_task else None
    if einfo is not None:
        result["traceback"] = str(getattr(einfo, "traceback", ""))[-4000:]
    _emit(
        _with_held(
            wire.transition(
                event_id=event_id,
                task_id=task_id,
                status="failed",
                attempt=attempt,
                at=time.time(),
                agent_type=agent_type,
                task_type=str((kwargs or {}).get("task_type", "")),
                worker=worker,
                result=result,
                trace=_trace(req) if in_task else None,
            )
        )
    )


# --- the worker's main process ----------------------------------------------------
@signals.task_received.connect
def on_received(request: Any = None, **_: Any) -> None:
    if request is None or agent_type_of(getattr(request, "name", "") or "") is None:
        return
    state.delivered(request.id, request.request_dict.get("retries") or 0)


@signals.task_revoked.connect
def on_revoked(
    sender: Any = None,
    request: Any = None,
    terminated: bool = False,
    expired: bool = False,
    **_: Any,
) -> None:
    name = getattr(sender, "name", None) or getattr(request, "task_name", "") or ""
    agent_type = agent_type_of(name)
    if agent_type is None or request is None:
        return
    # Celery sends the task's Context (retries is an attribute); older versions sent the
    # Request (retries in request_dict). Reading only the latter recorded every
    # cancellation as attempt 0, which loses to a later attempt's queued.
    attempt = getattr(request, "retries", None)
    if attempt is None:
        attempt = (getattr(request, "request_dict", None) or {}).get("retries")
    attempt = attempt or 0
    reason = "expired" if expired else "terminated" if terminated else "revoked"
    kwargs = getattr(request, "kwargs", None) or {}
    _emit(
        [
            wire.transition(
                event_id=stable_event_id(request.id, attempt, "cancelled").hex,
                task_id=request.id,
                status="cancelled",
                attempt=attempt,
                at=time.time(),
                agent_type=agent_type,
                task_type=str(kwargs.get("task_type", "")),
                worker=state.worker_hostname or getattr(request, "hostname", None),
                result={"error_message": f"task {reason}", "error_type": "Revoked"},
            )
        ]
    )


@signals.celeryd_after_setup.connect
def on_worker_setup(sender: str | None = None, instance: Any = None, **_: Any) -> None:
    state.worker_hostname = sender
    app = getattr(instance, "app", None)
    if app is not None and get_settings().recording and get_settings().running_hold_ms > 0:
        request.install(app, _emit)  # the main process records a held running its pool lost
