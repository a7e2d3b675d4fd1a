"""A pool process's ``running`` event, held back and sent with the task's last event.

Most agent tasks of a busy fleet are either long (an LLM call: seconds) or very short (a
cache hit, a validation failure). A short task's ``running`` and its end reach the
recorder in the same batch anyway, so sending them as two stream entries costs an XADD in
the pool process, one in Redis and one entry in the recorder for nothing. With
``AGENTQ_RUNNING_HOLD_MS`` > 0 the pool process keeps ``running`` in memory and sends it in
the same entry as the task's end (``completed`` / ``failed`` / ``retrying``); a task still
running when the hold expires has its ``running`` sent on its own by a small thread, so the
page shows it as running at most that late.

What a crash in the hold leaves recorded: a pool process killed within the hold never sent
its ``running``; the worker's main process sees the loss (WorkerLostError / Terminated for a
job it saw accepted) and records the same event in its place
(``workers/recording/request.py``). Both sides derive the event id from the task, the attempt
and the pool process, so when both send it the history keeps one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from persistence.lifecycle import stable_event_id

logger = logging.getLogger(__name__)

Send = Callable[[list[dict[str, Any]]], None]


def running_event_id(task_id: str, attempt: int, hostname: str | None, pid: int) -> str:
    """The id of a held ``running``: the pool process and, after its loss, the main
    process derive the same one (``workers/recording/request.py``)."""
    return stable_event_id(task_id, attempt, "running", hostname, pid).hex


class HeldRunning:
    """Holds at most one ``running`` event: a pool process runs one task at a time."""

    def __init__(self, hold_s: float, send: Send) -> None:
        self.hold_s = hold_s
        self._send = send
        self._cond = threading.Condition()
        self._held: dict[str, Any] | None = None
        self._deadline = 0.0
        self._thread: threading.Thread | None = None
        self._waiting_idle = False

    def hold(self, ev: dict[str, Any]) -> None:
        """Keep ``ev`` until :meth:`take` or until the hold expires (then it is sent)."""
        with self._cond:
            self._held = ev
            self._deadline = time.monotonic() + self.hold_s
            if self._thread is None:
                # Started on first use, in the pool process (threads do not survive fork).
                self._thread = threading.Thread(
                    target=self._run, name="agentq-held-running", daemon=True
                )
                self._thread.start()
            elif self._waiting_idle:
                # Only an idle thread needs waking: one waiting on an earlier deadline wakes
                # then and finds this event's later one (one wake-up per hold, not per task).
                self._cond.notify()

    def take(self) -> dict[str, Any] | None:
        """The held event, if it was not sent yet; the caller sends it with the task's end."""
        with self._cond:
            ev, self._held = self._held, None
            return ev

    def _run(self) -> None:
        with self._cond:
            while True:
                if self._held is None:
                    self._waiting_idle = True
                    self._cond.wait()
                    self._waiting_idle = False
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                ev, self._held = self._held, None
                try:
                    # Under the lock: take() waits, so the task's end never overtakes it.
                    self._send([ev])
                except Exception:  # never kill the thread: the next hold needs it
                    logger.exception(
                        "could not send a held running event", extra={"action": "emit_failed"}
                    )
