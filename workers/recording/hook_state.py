"""What the lifecycle hooks of one process keep between signals, in one object.

Celery's signal handlers are plain functions (``signals.py``); what they share — the
process's sink, the publishes in flight, the attempts the main process saw delivered, the
held ``running`` — lives on one :class:`HookState` instead of module globals, so a test can
read or replace all of it and a forked process can tell what it inherited (``*_pid``).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import OrderedDict
from typing import Any

from workers.recording.held_running import HeldRunning
from workers.recording.sink import EventSink
from workers.settings import Settings, get_settings

logger = logging.getLogger("workers.recording.signals")

MAX_TRACKED = 10_000


class HookState:
    def __init__(self) -> None:
        self.sink_: EventSink | None = None
        self.sink_pid = 0
        self.disabled: bool | None = None
        # before_task_publish -> after_task_publish: (time, priority) of each publish in flight.
        self.publishing: dict[tuple[str, int], tuple[float, Any]] = {}
        # Main process: attempt of each delivered task, for task_failure fired without a
        # request context (hard time limit). Bounded: only tasks in flight matter.
        self.received_attempts: OrderedDict[str, int] = OrderedDict()
        self.worker_hostname: str | None = None
        self.in_worker = False  # set by worker_init; inherited by the pool processes
        # The sink is one socket: the held-running thread and the task's thread take turns.
        self.emit_lock = threading.Lock()
        self.held: HeldRunning | None = None
        self.held_pid = 0

    # --- the sink ---------------------------------------------------------------------
    def sink(self) -> EventSink | None:
        """This process's sink, created after fork on first use; None when recording is off."""
        if self.disabled is None:
            self.disabled = not get_settings().recording
        if self.disabled:
            return None
        if self.sink_ is None or self.sink_pid != os.getpid():
            s = get_settings()
            self.sink_ = EventSink(
                s.recorder_redis_url, s.events_stream, s.spool_dir, confirm=self.confirm_mode(s)
            )
            if self.sink_pid == 0:
                # Read the last replies at exit (a producer, beat, a worker's main process).
                # Pool children leave through os._exit and flush on worker_process_shutdown.
                atexit.register(self.flush)
            self.sink_pid = os.getpid()
        return self.sink_

    def confirm_mode(self, s: Settings) -> str:
        if s.events_confirm != "auto":
            return s.events_confirm
        # In a worker, the task's last event waits for Redis's replies (to it and to the
        # `running` before it): every event is in Redis, or spooled, before the task's
        # message is acknowledged. `running` itself does not wait: one round trip per task
        # fewer, and a process killed after it still delivers it (it is in the socket's
        # buffer). A publisher (the web app) does not wait.
        return "final" if self.in_worker else "deferred"

    def emit(self, evs: list[dict[str, Any]], final: bool = True) -> None:
        try:
            sink = self.sink()
            if sink is not None:
                with self.emit_lock:
                    sink.emit(evs, final=final)
        except Exception:  # never fail a task or a publish because of recording
            logger.exception("could not record lifecycle event", extra={"action": "emit_failed"})

    def flush(self) -> None:
        """Wait for Redis's reply to every event this process sent (at shutdown)."""
        try:
            if self.sink_ is not None and self.sink_pid == os.getpid():
                self.sink_.flush()
        except Exception:
            logger.exception("could not flush lifecycle events", extra={"action": "emit_failed"})

    def reset(self) -> None:
        """Forget the process's sink and settings (tests change the environment)."""
        if self.sink_ is not None:
            self.sink_.close()
        self.sink_, self.disabled = None, None

    # --- the held running (held_running.py) -----------------------------------------------
    def held_running(self) -> HeldRunning | None:
        """This pool process's holder of ``running`` events; None when holding is off."""
        if not self.in_worker:
            return None
        if self.held is None or self.held_pid != os.getpid():
            hold_ms = get_settings().running_hold_ms
            if hold_ms <= 0:
                return None
            self.held = HeldRunning(hold_ms / 1000, lambda evs: self.emit(evs, final=False))
            self.held_pid = os.getpid()
        return self.held

    def take_held(self) -> dict[str, Any] | None:
        """The ``running`` this process still holds, if any (a forked copy holds nothing)."""
        if self.held is None or self.held_pid != os.getpid():
            return None
        return self.held.take()

    # --- bounded bookkeeping ----------------------------------------------------------------
    def publish_started(self, key: tuple[str, int], at: float, priority: Any) -> None:
        if len(self.publishing) > MAX_TRACKED:  # publishes that failed never reach "after"
            self.publishing.clear()
        self.publishing[key] = (at, priority)

    def delivered(self, task_id: str, attempt: int) -> None:
        self.received_attempts[task_id] = attempt
        if len(self.received_attempts) > MAX_TRACKED:
            self.received_attempts.popitem(last=False)
