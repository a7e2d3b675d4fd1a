"""The lifecycle hooks (``workers/recording/signals.py``) in the prefork pool child that
runs a task: ``running``, then ``completed``, ``retrying`` or ``failed``.

No Redis: the events go to tests/support/signal_hooks.py's ``CapturingSink``."""

from __future__ import annotations

import time
from typing import Any

import pytest
from celery import signals as celery_signals
from celery.exceptions import Retry
from kombu import Connection

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process too)
from persistence.lifecycle import stable_event_id
from tests.support.signal_hooks import (
    CONTENT,
    POOL_HOST,
    QUEUE,
    CapturingSink,
    fields,
    is_random_id,
    measured,
    publish_test_task,
    run_in_pool_child,
    running,
    take,
)
from workers.app import app
from workers.producer import enqueue


def test_a_run_records_running_then_completed_with_the_result(
    sink: CapturingSink, broker: Connection
) -> None:
    task_id = enqueue("content_generator", CONTENT.example_task_type, CONTENT.example)
    request = take(broker)
    sink.batches.clear()
    before = time.time()
    returned = run_in_pool_child(request)
    after = time.time()

    running_ev, completed = sink.events
    assert fields(running_ev) == {
        "k": "t",
        "t": task_id,
        "s": "running",
        "a": 0,
        "ag": "content_generator",
        "tt": CONTENT.example_task_type,
        "w": POOL_HOST,
    }
    seconds = measured(completed)
    expected = CONTENT.handler(
        CONTENT.example_task_type, CONTENT.input_model.model_validate(CONTENT.example)
    )
    assert fields(completed) == {
        "k": "t",
        "t": task_id,
        "s": "completed",
        "a": 0,
        "ag": "content_generator",
        "tt": CONTENT.example_task_type,
        "w": POOL_HOST,
        "rs": {
            "output_data": expected.output.model_dump(mode="json"),
            "quality_score": expected.quality_score,
        },
    }
    assert returned["output_data"] == completed["rs"]["output_data"]
    assert is_random_id(running_ev["id"]) and is_random_id(completed["id"])
    assert before <= running_ev["at"] <= completed["at"] <= after
    assert seconds <= after - before


def test_only_running_is_sent_without_waiting_in_a_worker(
    sink: CapturingSink, broker: Connection
) -> None:
    """Under the worker's confirm mode ("final") the sink waits on every event but
    running, which the same process always follows with the attempt's end (whose wait
    reads running's reply too) before the message is acknowledged."""
    publish_test_task("flaky", {"fail_times": 1, "countdown": 0.1})
    sink.batches.clear()
    sink.finals.clear()
    run_in_pool_child(take(broker))
    run_in_pool_child(take(broker))  # attempt 1 completes
    sent = [(batch[-1]["s"], final) for batch, final in zip(sink.batches, sink.finals, strict=True)]
    assert sent == [
        ("running", False),
        ("queued", True),
        ("retrying", True),
        ("running", False),
        ("completed", True),
    ]


def test_a_retry_records_retrying_with_its_cause_and_queues_the_next_attempt(
    sink: CapturingSink, broker: Connection
) -> None:
    task_id = publish_test_task("flaky", {"fail_times": 1, "countdown": 0.1})
    sink.batches.clear()
    run_in_pool_child(take(broker))

    running_ev, queued, retrying = sink.events
    assert (running_ev["s"], running_ev["a"], running_ev["w"]) == ("running", 0, POOL_HOST)
    # Task.retry() publishes attempt 1 from the pool child, then raises Retry.
    assert fields(queued) == {
        "k": "t",
        "t": task_id,
        "s": "queued",
        "a": 1,
        "ag": "content_generator",
        "tt": "flaky",
    }
    assert queued["id"] == stable_event_id(task_id, 1, "queued").hex
    measured(retrying)
    assert fields(retrying) == {
        "k": "t",
        "t": task_id,
        "s": "retrying",
        "a": 0,
        "ag": "content_generator",
        "tt": "flaky",
        "w": POOL_HOST,
        # The cause, not Celery's Retry wrapper around it.
        "rs": {
            "error_message": "transient failure on attempt 0",
            "error_type": "TransientAgentError",
        },
    }

    # Attempt 1, as delivered again.
    again = take(broker)
    assert again.request_dict["retries"] == 1 and again.request_dict["eta"]
    sink.batches.clear()
    run_in_pool_child(again)
    running_ev, completed = sink.events
    assert (running_ev["s"], running_ev["a"]) == ("running", 1)
    measured(completed)
    assert (completed["s"], completed["a"], completed["w"]) == ("completed", 1, POOL_HOST)
    assert completed["rs"] == {"output_data": {"attempts": 2}, "quality_score": 0.5}


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        (
            Retry(exc=KeyError("gone"), when=1),
            {"error_message": "'gone'", "error_type": "KeyError"},
        ),
        # Retry without a cause: the Retry itself is the error.
        (Retry("try later"), {"error_message": "try later", "error_type": "Retry"}),
        ("not an exception", {"error_message": "not an exception", "error_type": "Retry"}),
    ],
)
def test_task_retry_names_the_cause_it_can_find(
    sink: CapturingSink, reason: Any, error: dict[str, Any]
) -> None:
    task = app.tasks["agents.content_generator.flaky"]
    with running(task, id="t-1", retries=2, kwargs={"task_type": "flaky"}) as request:
        celery_signals.task_retry.send(sender=task, request=request, reason=reason, einfo=None)
    [retrying] = sink.events
    assert fields(retrying) == {
        "k": "t",
        "t": "t-1",
        "s": "retrying",
        "a": 2,
        "ag": "content_generator",
        "tt": "flaky",
        "w": POOL_HOST,
        # No task_prerun in this process: no run time.
        "rs": {**error, "execution_time_seconds": None},
    }


def test_retries_exhausted_fail_at_the_last_attempt(
    sink: CapturingSink, broker: Connection
) -> None:
    task_id = publish_test_task("flaky", {"fail_times": 10}, retries=3)  # max_retries=3
    sink.batches.clear()
    run_in_pool_child(take(broker))

    running_ev, failed = sink.events
    assert (running_ev["s"], running_ev["a"]) == ("running", 3)
    measured(failed)
    traceback = failed["rs"].pop("traceback")
    assert fields(failed) == {
        "k": "t",
        "t": task_id,
        "s": "failed",
        "a": 3,
        "ag": "content_generator",
        "tt": "flaky",
        "w": POOL_HOST,
        "rs": {
            "error_message": "transient failure on attempt 3",
            "error_type": "TransientAgentError",
        },
    }
    assert "TransientAgentError: transient failure on attempt 3" in traceback
    assert broker.default_channel.basic_get(QUEUE) is None  # no attempt 4 published


def test_a_handler_exception_fails_the_run_in_the_pool_child(
    sink: CapturingSink, broker: Connection
) -> None:
    task_id = publish_test_task("boom")
    sink.batches.clear()
    run_in_pool_child(take(broker))

    running_ev, failed = sink.events
    assert running_ev["s"] == "running"
    measured(failed)
    traceback = failed["rs"].pop("traceback")
    assert fields(failed) == {
        "k": "t",
        "t": task_id,
        "s": "failed",
        "a": 0,
        "ag": "content_generator",
        "tt": "boom",
        "w": POOL_HOST,
        "rs": {"error_message": "boom: the handler failed", "error_type": "RuntimeError"},
    }
    assert "RuntimeError: boom: the handler failed" in traceback
    # In the task's own process the failure is this run's: a fresh event id.
    assert is_random_id(failed["id"])


@pytest.mark.parametrize(
    ("exception", "error"),
    [
        (KeyError(), {"error_message": "KeyError", "error_type": "KeyError"}),
        (ValueError("x" * 3000), {"error_message": "x" * 2000, "error_type": "ValueError"}),
    ],
)
def test_error_fields_are_never_empty_nor_unbounded(
    sink: CapturingSink, exception: BaseException, error: dict[str, Any]
) -> None:
    task = app.tasks["agents.content_generator.boom"]
    with running(task, id="t-2", kwargs={"task_type": "boom"}):
        celery_signals.task_failure.send(
            sender=task,
            task_id="t-2",
            exception=exception,
            args=[],
            kwargs={"task_type": "boom"},
            traceback=None,
            einfo=None,
        )
    [failed] = sink.events
    assert failed["rs"] == {**error, "execution_time_seconds": None}  # no einfo: no traceback


def test_a_result_that_is_not_a_dict_is_the_output(sink: CapturingSink) -> None:
    task = app.tasks["agents.content_generator.noop"]
    with running(task, id="t-3", retries=1, kwargs={"task_type": "noop"}):
        celery_signals.task_success.send(sender=task, result=["a", "b"])
    [completed] = sink.events
    assert fields(completed) == {
        "k": "t",
        "t": "t-3",
        "s": "completed",
        "a": 1,
        "ag": "content_generator",
        "tt": "noop",
        "w": POOL_HOST,
        "rs": {"output_data": ["a", "b"], "quality_score": None, "execution_time_seconds": None},
    }
