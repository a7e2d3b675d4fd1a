"""The pool process's held ``running``: taken by the task's end, or sent when the hold expires."""

from __future__ import annotations

import threading
import time
from typing import Any

from workers.recording.held_running import HeldRunning


class Sent:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.event = threading.Event()

    def __call__(self, evs: list[dict[str, Any]]) -> None:
        self.batches.append(evs)
        self.event.set()


def test_taken_before_the_hold_expires_is_never_sent_alone() -> None:
    sent = Sent()
    held = HeldRunning(60.0, sent)
    held.hold({"s": "running", "t": "a"})
    assert held.take() == {"s": "running", "t": "a"}
    assert held.take() is None  # taken once
    held.hold({"s": "running", "t": "b"})
    assert held.take() == {"s": "running", "t": "b"}
    assert sent.batches == []


def test_a_long_task_has_its_running_sent_when_the_hold_expires() -> None:
    sent = Sent()
    held = HeldRunning(0.05, sent)
    held.hold({"s": "running", "t": "long"})
    assert sent.event.wait(30), "the held running was never sent"
    assert sent.batches == [[{"s": "running", "t": "long"}]]
    assert held.take() is None  # the task's end sends only itself


def test_the_thread_survives_a_failing_send_and_serves_the_next_hold() -> None:
    calls: list[list[dict[str, Any]]] = []
    second = threading.Event()

    def send(evs: list[dict[str, Any]]) -> None:
        calls.append(evs)
        if len(calls) == 1:
            raise ConnectionError("redis went away")
        second.set()

    held = HeldRunning(0.01, send)
    held.hold({"t": "first"})
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    held.hold({"t": "second"})
    assert second.wait(30), "the thread died with the first failing send"
    assert calls == [[{"t": "first"}], [{"t": "second"}]]
