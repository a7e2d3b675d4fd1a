"""The lifecycle hooks (``workers/recording/signals.py``) in what is not an agent task's,
or not a whole signal: nothing recorded.

No Redis: the events go to tests/support/signal_hooks.py's ``CapturingSink``."""

from __future__ import annotations

from typing import Any

import pytest
from celery import signals as celery_signals
from celery.exceptions import Retry
from kombu import Connection

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process too)
from tests.support.signal_hooks import (
    CapturingSink,
    receive,
    revoked_by_id,
    running,
    take,
)
from workers.app import app
from workers.beat.names import AGGREGATE_METRICS
from workers.recording import signals
from workers.routing import BEAT_QUEUE


def test_tasks_other_than_agents_are_not_recorded(sink: CapturingSink, broker: Connection) -> None:
    beat_task = app.tasks[AGGREGATE_METRICS]
    beat_task.apply_async()
    request = take(broker, BEAT_QUEUE)
    receive(request)
    with running(beat_task, id=request.id) as context:
        celery_signals.task_prerun.send(
            sender=beat_task, task_id=request.id, task=beat_task, args=[], kwargs={}
        )
        celery_signals.task_success.send(sender=beat_task, result=None)
        celery_signals.task_retry.send(
            sender=beat_task, request=context, reason=Retry("again"), einfo=None
        )
        celery_signals.task_failure.send(
            sender=beat_task,
            task_id=request.id,
            exception=RuntimeError("x"),
            args=[],
            kwargs={},
            traceback=None,
            einfo=None,
        )
    with revoked_by_id(request.id):
        assert request.revoked()
    assert sink.events == []
    assert signals.state.publishing == {} and signals.state.received_attempts == {}


@pytest.mark.parametrize(
    ("signal", "arguments"),
    [
        (celery_signals.before_task_publish, {"sender": None, "headers": {"id": "x"}}),
        (celery_signals.before_task_publish, {"sender": "agents.quiz_generator", "headers": None}),
        (celery_signals.after_task_publish, {"sender": "agents.quiz_generator", "headers": None}),
        (celery_signals.task_prerun, {"sender": None, "task_id": None, "task": "noop"}),
        (celery_signals.task_retry, {"sender": "noop", "request": None}),
        (celery_signals.task_failure, {"sender": "noop", "task_id": None}),
        (celery_signals.task_received, {"sender": None, "request": None}),
        (celery_signals.task_revoked, {"sender": "noop", "request": None}),
    ],
)
def test_a_signal_without_its_task_or_request_records_nothing(
    sink: CapturingSink, signal: Any, arguments: dict[str, Any]
) -> None:
    named = {
        k: app.tasks["agents.content_generator.noop"] if v == "noop" else v
        for k, v in arguments.items()
    }
    signal.send(**named)
    assert sink.events == []
    assert signals.state.publishing == {} and signals.state.received_attempts == {}
