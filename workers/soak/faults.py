"""The soak's faults, each on its own timer thread so that they overlap.

A fault records when it started and ended, and ``evidence``: counts that show it took
effect (children killed, a restarted worker ready again, spool entries replayed after a
cut, recorder back-offs during the outage, reconnections after Redis came back, dead
letters after the poison, messages deleted from the broker and repaired by the
reconciler). A fault whose evidence is all zero failed to inject, and
fails the run.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    kind: str
    at: float  # seconds after the load starts
    duration: float
    action: Callable[[Fault], None]
    start: float | None = None
    end: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    pinned: list[str] = field(default_factory=list)  # tasks it made sure to find in flight

    def as_dict(self, t0: float) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start": None if self.start is None else round(self.start - t0, 2),
            "end": None if self.end is None else round(self.end - t0, 2),
            "evidence": self.evidence,
            **({"error": self.error} if self.error else {}),
        }

    @property
    def took_effect(self) -> bool:
        """Every count that shows this kind of fault happened is above zero."""
        keys = PROOF.get(self.kind, ())
        return self.error is None and bool(keys) and all(self.evidence.get(k) for k in keys)


# The evidence that each kind of fault took effect (all of it).
PROOF: dict[str, tuple[str, ...]] = {
    "poison": ("dead_letters",),
    "kill_child": ("children_killed", "pinned_rerun"),
    "partition": ("spool_entries_replayed", "pinned_rerun"),
    "kill_worker": ("killed", "restarted"),
    "postgres_down": ("recorder_backoffs",),
    "redis_restart": ("reconnections",),
    "redis_kill": ("reconnections",),
    "clock_skew": ("events_ahead",),
    "broker_loss": ("deleted", "repaired"),
}


class Schedule:
    """Runs each fault at ``t0 + fault.at`` on its own thread."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = faults
        self.threads: list[threading.Thread] = []
        self.t0 = 0.0
        self.stop = threading.Event()

    def begin(self, t0: float) -> None:
        self.t0 = t0
        for fault in self.faults:
            thread = threading.Thread(target=self._run, args=(fault,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self, fault: Fault) -> None:
        if self.stop.wait(max(0.0, self.t0 + fault.at - time.monotonic())):
            return
        fault.start = time.monotonic()
        try:
            fault.action(fault)
        except Exception as exc:  # reported, and fails the run
            fault.error = f"{type(exc).__name__}: {exc}"
        fault.end = time.monotonic()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    def last_end(self) -> float:
        return max((f.end or f.start or self.t0) for f in self.faults) if self.faults else self.t0


def hold(fault: Fault, stop: threading.Event) -> None:
    """Wait out the fault's duration (cut short only when the run is stopped)."""
    stop.wait(fault.duration)


def hold_until(stop: threading.Event, done: Callable[[], bool], cap: float) -> float:
    """Keep the fault on until ``done()`` (its alerts fire), at most ``cap`` seconds more;
    the seconds it waited. An alert that never fires ends the wait at the cap, and the
    alert verdict then fails."""
    start = time.monotonic()
    while not done() and time.monotonic() - start < cap:
        if stop.wait(1.0):
            break
    return round(time.monotonic() - start, 1)


def kill_children(pids: list[int]) -> int:
    killed = 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def seeded_offsets(rng: random.Random, scale: float) -> dict[str, float]:
    """When each fault starts, seconds after the load starts: overlapping windows, in
    an order that varies with the seed. ``scale`` shortens everything (a CI run)."""
    base = {
        "poison": 2.0,
        "kill_child": 6.0,
        "partition": 10.0,
        "kill_worker": 16.0,
        "postgres_down": 22.0,
        "redis_restart": 40.0,
        "broker_loss": 4.0,  # while the producers' backlog waits on the queues
    }
    return {k: round((v + rng.uniform(0, 4)) * scale, 1) for k, v in base.items()}
