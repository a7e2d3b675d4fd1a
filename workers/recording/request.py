"""The worker main process's side of a held ``running`` (``held_running.py``).

A pool process killed within the hold (OOM, SIGKILL, a terminate) never sent its task's
``running``. The main process learns of the loss in ``Request.on_failure`` — Celery fires
no signal for it — and, for a job the pool process had accepted, records that ``running``
itself, with the start time it was told and the same event id the pool process would have
used, before Celery requeues the message (``reject_on_worker_lost``).
Installed on the agent tasks only while ``AGENTQ_RUNNING_HOLD_MS`` > 0.
"""

from __future__ import annotations

from typing import Any

from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery import Celery
from celery.exceptions import Terminated
from celery.worker.request import Request

from workers.routing import agent_type_of

REQUEST_CLASS = "workers.recording.request:RecordingRequest"
# What a pool process dying under its task looks like from the main process.
_LOSS = (WorkerLostError, Terminated, SystemExit, KeyboardInterrupt)


class RecordingRequest(Request):
    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, _LOSS) and self.time_start and self.worker_pid:
            from workers.recording import signals  # the hooks import this module's name

            signals.record_lost_running(self)
        return super().on_failure(exc_info, send_failed_event, return_ok)


def install(app: Celery) -> int:
    """Give every agent task of ``app`` the recording request class; returns how many."""
    n = 0
    for name, task in app.tasks.items():
        if agent_type_of(name) is not None:
            task.Request = REQUEST_CLASS
            n += 1
    return n
