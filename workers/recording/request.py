"""The worker main process's side of a held ``running`` (``held_running.py``).

A pool process killed within the hold (OOM, SIGKILL, a terminate) never sent its task's
``running``. The main process learns of the loss in ``Request.on_failure`` — Celery fires
no signal for it — and, for a job the pool process had accepted, records that ``running``
itself, with the start time it was told and the same event id the pool process would have
used, before Celery requeues the message (``reject_on_worker_lost``).
Installed on the agent tasks only while ``AGENTQ_RUNNING_HOLD_MS`` > 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery import Celery
from celery.exceptions import Terminated
from celery.worker.request import Request

from persistence import wire
from workers.recording.held_running import running_event_id
from workers.routing import agent_type_of

logger = logging.getLogger(__name__)

REQUEST_CLASS = "workers.recording.request:RecordingRequest"
# What a pool process dying under its task looks like from the main process.
_LOSS = (WorkerLostError, Terminated, SystemExit, KeyboardInterrupt)
Emit = Callable[[list[dict[str, Any]]], None]


class RecordingRequest(Request):
    emit: ClassVar[Emit | None] = None  # the hooks' emit, given by install()

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, _LOSS) and self.time_start and self.worker_pid:
            record_lost_running(self)
        return super().on_failure(exc_info, send_failed_event, return_ok)


def record_lost_running(req: Any) -> None:
    """The ``running`` of a job whose pool process died, as that process would have sent it."""
    emit = RecordingRequest.emit
    agent_type = agent_type_of(getattr(req, "name", "") or "")
    if emit is None or agent_type is None:
        return
    try:
        attempt = (getattr(req, "request_dict", None) or {}).get("retries") or 0
        kwargs = req.kwargs if isinstance(req.kwargs, dict) else {}
        ev = wire.transition(
            event_id=running_event_id(req.id, attempt, req.hostname, req.worker_pid),
            task_id=req.id,
            status="running",
            attempt=attempt,
            at=req.time_start,
            agent_type=agent_type,
            task_type=str(kwargs.get("task_type", "")),
            worker=req.hostname,
        )
    except Exception:
        logger.exception("could not record a lost running", extra={"action": "emit_failed"})
        return
    emit([ev])


def install(app: Celery, emit: Emit) -> int:
    """Give every agent task of ``app`` the recording request class; returns how many."""
    RecordingRequest.emit = emit
    n = 0
    for name, task in app.tasks.items():
        if agent_type_of(name) is not None:
            task.Request = REQUEST_CLASS
            n += 1
    return n
