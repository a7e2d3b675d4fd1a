"""The lifecycle hooks (``workers/recording/signals.py``) in a publishing process:
``pending`` with the request, then ``queued``.

No Redis: the events go to tests/support/signal_hooks.py's ``CapturingSink``."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from celery import signals as celery_signals
from kombu import Connection

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process too)
from persistence.lifecycle import stable_event_id
from tests.support.signal_hooks import (
    CONTENT,
    CapturingSink,
    fields,
    publish_test_task,
    take,
)
from workers.producer import enqueue
from workers.recording import hook_state, signals


def test_a_publish_records_pending_with_the_request_then_queued(
    sink: CapturingSink, broker: Connection
) -> None:
    user = str(uuid.uuid4())
    before = time.time()
    task_id = enqueue(
        "content_generator",
        "lesson",
        CONTENT.example,
        user_id=user,
        session_id="sess-1",
        priority="high",
    )
    after = time.time()

    assert len(sink.batches) == 1  # one XADD for the publish
    pending, queued = sink.events
    assert fields(pending) == {
        "k": "t",
        "t": task_id,
        "s": "pending",
        "a": 0,
        "ag": "content_generator",
        "tt": "lesson",
        "rq": {
            "input_data": CONTENT.example,
            "user_id": user,
            "session_id": "sess-1",
            "priority": "high",
        },
    }
    assert fields(queued) == {
        "k": "t",
        "t": task_id,
        "s": "queued",
        "a": 0,
        "ag": "content_generator",
        "tt": "lesson",
    }
    assert pending["id"] == stable_event_id(task_id, 0, "pending").hex
    assert queued["id"] == stable_event_id(task_id, 0, "queued").hex
    assert before <= pending["at"] <= queued["at"] <= after
    assert signals.state.publishing == {}  # before -> after: nothing left in flight
    assert take(broker).id == task_id


@pytest.mark.parametrize(
    ("priority", "recorded"), [(None, "normal"), ("critical", "critical"), (8, "low")]
)
def test_the_pending_request_names_the_priority(
    sink: CapturingSink, broker: Connection, priority: str | int | None, recorded: str
) -> None:
    enqueue("content_generator", "lesson", CONTENT.example, priority=priority)
    assert sink.events[0]["rq"]["priority"] == recorded


def test_a_countdown_publish_records_its_eta(sink: CapturingSink, broker: Connection) -> None:
    before = time.time()
    task_id = enqueue("content_generator", "lesson", CONTENT.example, countdown=30)
    after = time.time()

    pending, queued = sink.events
    eta = pending["rq"]["eta"]
    assert eta == take(broker).request_dict["eta"]  # the message's own ETA header
    assert before + 30 <= datetime.fromisoformat(eta).timestamp() <= after + 30
    assert (queued["s"], queued["t"]) == ("queued", task_id)  # queued now, not at the ETA
    assert before <= queued["at"] <= after


def test_a_publish_at_a_given_eta_records_it(sink: CapturingSink, broker: Connection) -> None:
    eta = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    publish_test_task("noop", eta=eta)
    assert datetime.fromisoformat(sink.events[0]["rq"]["eta"]) == eta


def test_a_retry_publish_records_only_queued_at_the_next_attempt(
    sink: CapturingSink, broker: Connection
) -> None:
    # What Task.retry() publishes: the same task id with retries = n + 1.
    task_id = str(uuid.uuid4())
    publish_test_task("flaky", {"fail_times": 5}, task_id=task_id, retries=3, countdown=1)

    [queued] = sink.events
    assert fields(queued) == {
        "k": "t",
        "t": task_id,
        "s": "queued",
        "a": 3,
        "ag": "content_generator",
        "tt": "flaky",
    }
    assert queued["id"] == stable_event_id(task_id, 3, "queued").hex


def test_after_task_publish_sent_twice_records_the_same_events(
    sink: CapturingSink, broker: Connection
) -> None:
    sent: list[dict[str, Any]] = []

    def keep(signal: Any = None, **named: Any) -> None:
        sent.append(named)

    celery_signals.after_task_publish.connect(keep, weak=False)
    try:
        publish_test_task("noop", {"n": 1})
    finally:
        celery_signals.after_task_publish.disconnect(keep)
    [arguments] = sent
    celery_signals.after_task_publish.send(**arguments)  # no before_task_publish this time

    first, second = sink.batches
    assert [ev["id"] for ev in second] == [ev["id"] for ev in first]
    assert [fields(ev) for ev in second] == [fields(ev) for ev in first]
    pending, queued = second
    assert pending["at"] == queued["at"]  # no publish time known: pending is timed now


def test_publishes_in_flight_are_bounded(
    sink: CapturingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A publish that fails never reaches after_task_publish: its entry would stay.
    monkeypatch.setattr(hook_state, "MAX_TRACKED", 2)
    for task_id in ("a", "b", "c", "d"):
        celery_signals.before_task_publish.send(
            sender="agents.content_generator", headers={"id": task_id, "retries": 0}
        )
    assert list(signals.state.publishing) == [("d", 0)]
    assert sink.events == []


def test_a_malformed_publish_is_logged_not_raised(
    sink: CapturingSink, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=signals.__name__):
        celery_signals.after_task_publish.send(
            sender="agents.content_generator", body=None, headers={"retries": 0}
        )
    assert sink.events == []
    assert "could not record publish" in caplog.text
