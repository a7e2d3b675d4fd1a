"""The lifecycle hooks (``workers/recording/signals.py``) in a worker's main process: what
it receives, time limits, lost children, revokes, expiries.

No Redis: the events go to tests/support/signal_hooks.py's ``CapturingSink``."""

from __future__ import annotations

import socket
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from billiard.exceptions import Terminated, WorkerLostError
from celery import signals as celery_signals
from celery.worker.request import Request
from kombu import Connection

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process too)
from persistence.lifecycle import stable_event_id
from tests.support.signal_hooks import (
    CONTENT,
    MAIN_HOST,
    POOL_HOST,
    QUEUE,
    CapturingSink,
    exception_info,
    fields,
    publish_test_task,
    receive,
    revoked_by_id,
    take,
)
from workers.app import app
from workers.producer import enqueue
from workers.recording import hook_state, signals


def test_task_received_remembers_the_attempt_of_each_delivery(
    sink: CapturingSink, broker: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hook_state, "MAX_TRACKED", 2)
    ids = [publish_test_task("slow", retries=n) for n in (0, 2, 1)]
    sink.batches.clear()
    for _ in ids:
        receive(take(broker))
    # Only tasks in flight matter: the oldest is forgotten past the bound.
    assert signals.state.received_attempts == OrderedDict([(ids[1], 2), (ids[2], 1)])
    assert sink.events == []


def test_a_hard_time_limit_fails_the_attempt_the_main_process_received(
    sink: CapturingSink, broker: Connection
) -> None:
    celery_signals.celeryd_after_setup.send(sender=MAIN_HOST, instance=None, conf=app.conf)
    task_id = publish_test_task("slow", {"seconds": 100}, retries=2)
    request = take(broker)
    receive(request)
    sink.batches.clear()

    request.on_timeout(soft=True, timeout=20.0)  # only a warning: the child raises
    assert sink.events == []
    request.on_timeout(soft=False, timeout=30.0)  # no task context in this process

    [failed] = sink.events
    traceback = failed["rs"].pop("traceback")
    assert fields(failed) == {
        "k": "t",
        "t": task_id,
        "s": "failed",
        "a": 2,  # from task_received: the main process has no request context
        "ag": "content_generator",
        "tt": "slow",
        "w": MAIN_HOST,
        "rs": {
            "error_message": "TimeLimitExceeded(30.0,)",
            "error_type": "TimeLimitExceeded",
            "execution_time_seconds": None,
        },
    }
    assert "TimeLimitExceeded" in traceback
    # It may be sent twice for one failure: the id is derived, so the second is a duplicate.
    assert failed["id"] == stable_event_id(task_id, 2, "failed", "main").hex
    celery_signals.task_failure.send(
        sender=request.task,
        task_id=task_id,
        exception=WorkerLostError("lost"),
        args=[],
        kwargs=request.kwargs,
        traceback=None,
        einfo=None,
    )
    assert sink.events[-1]["id"] == failed["id"]


def test_a_main_process_failure_of_a_task_it_did_not_receive(sink: CapturingSink) -> None:
    # No celeryd_after_setup (not a worker) and no task_received: attempt 0, the host name.
    task_id = str(uuid.uuid4())
    celery_signals.task_failure.send(
        sender=app.tasks["agents.content_generator.slow"],
        task_id=task_id,
        exception=WorkerLostError("Worker exited prematurely"),
        args=[],
        kwargs={"task_type": "slow"},
        traceback=None,
        einfo=None,
    )
    [failed] = sink.events
    assert fields(failed) == {
        "k": "t",
        "t": task_id,
        "s": "failed",
        "a": 0,
        "ag": "content_generator",
        "tt": "slow",
        "w": socket.gethostname(),
        "rs": {
            "error_message": "Worker exited prematurely",
            "error_type": "WorkerLostError",
            "execution_time_seconds": None,
        },
    }
    assert failed["id"] == stable_event_id(task_id, 0, "failed", "main").hex


def test_a_pool_child_lost_mid_task_records_nothing(
    sink: CapturingSink, broker: Connection
) -> None:
    # acks_late + reject_on_worker_lost: the message goes back to the queue and the next
    # run is recorded as a second `running` of the same attempt; nothing fails.
    publish_test_task("slow", {"seconds": 100})
    request = take(broker)
    receive(request)
    assert request.task.acks_late and request.task.reject_on_worker_lost
    sink.batches.clear()
    request.on_failure(exception_info(WorkerLostError("Worker exited prematurely")))
    assert sink.events == []


@pytest.mark.xfail(
    strict=True,
    reason="task_retry without a reason (Request.cancel: a lost broker connection with "
    "worker_cancel_long_running_tasks_on_connection_loss) is recorded as error 'None'",
)
def test_a_request_celery_cancels_is_retrying_with_a_reason(
    sink: CapturingSink, broker: Connection
) -> None:
    task_id = publish_test_task("slow", {"seconds": 100}, retries=1)
    request = take(broker)
    receive(request)
    request.on_accepted(pid=4242, time_accepted=time.monotonic())
    terminated: list[tuple[int, int]] = []
    sink.batches.clear()
    request.cancel(SimpleNamespace(terminate_job=lambda pid, sig: terminated.append((pid, sig))))

    assert [pid for pid, _ in terminated] == [4242]
    [retrying] = sink.events
    assert (retrying["t"], retrying["s"], retrying["a"]) == (task_id, "retrying", 1)
    assert retrying["rs"]["error_type"] == "Retry"
    assert retrying["rs"]["error_message"] not in ("", "None")


@pytest.mark.parametrize("main_host", [MAIN_HOST, None])
def test_a_revoked_message_is_cancelled_by_the_main_process(
    sink: CapturingSink, broker: Connection, main_host: str | None
) -> None:
    if main_host is not None:
        celery_signals.celeryd_after_setup.send(sender=main_host, instance=None, conf=app.conf)
    task_id = enqueue("content_generator", "lesson", CONTENT.example, countdown=60)
    request = take(broker)
    receive(request)
    sink.batches.clear()
    with revoked_by_id(task_id):
        assert request.revoked()

    [cancelled] = sink.events
    assert fields(cancelled) == {
        "k": "t",
        "t": task_id,
        "s": "cancelled",
        "a": 0,
        "ag": "content_generator",
        "tt": "lesson",
        "w": main_host or POOL_HOST,  # else the request's own worker name
        "rs": {"error_message": "task revoked", "error_type": "Revoked"},
    }
    assert cancelled["id"] == stable_event_id(task_id, 0, "cancelled").hex


def test_an_expired_message_is_cancelled(sink: CapturingSink, broker: Connection) -> None:
    task_id = publish_test_task("noop", expires=3600)
    message = broker.default_channel.basic_get(QUEUE)
    assert message is not None
    # It waited on the queue past its expiry.
    message.headers["expires"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    request = Request(message, app=app, task=app.tasks[message.headers["task"]], hostname=POOL_HOST)
    sink.batches.clear()
    assert request.revoked()
    [cancelled] = sink.events
    assert (cancelled["t"], cancelled["s"], cancelled["a"]) == (task_id, "cancelled", 0)
    assert cancelled["rs"] == {"error_message": "task expired", "error_type": "Revoked"}


def test_a_retried_task_terminated_is_cancelled_at_its_attempt(
    sink: CapturingSink, broker: Connection
) -> None:
    # `celery control revoke --terminate`: the pool child dies of the signal. The attempt
    # must be the request's, or the cancellation loses to the attempt's own `queued`.
    task_id = publish_test_task("slow", {"seconds": 100}, retries=2)
    request = take(broker)
    receive(request)
    sink.batches.clear()
    request.on_failure(exception_info(Terminated(15)))

    [cancelled] = sink.events
    assert fields(cancelled) == {
        "k": "t",
        "t": task_id,
        "s": "cancelled",
        "a": 2,
        "ag": "content_generator",
        "tt": "slow",
        "w": POOL_HOST,
        "rs": {"error_message": "task terminated", "error_type": "Revoked"},
    }
    assert cancelled["id"] == stable_event_id(task_id, 2, "cancelled").hex


def test_task_revoked_without_a_sender_reads_the_request(
    sink: CapturingSink, broker: Connection
) -> None:
    task_id = publish_test_task("noop", retries=1)
    request = take(broker)
    sink.batches.clear()
    celery_signals.task_revoked.send(
        sender=None, request=request, terminated=False, signum=None, expired=True
    )
    [cancelled] = sink.events
    assert (cancelled["t"], cancelled["a"], cancelled["tt"]) == (task_id, 1, "noop")
    assert cancelled["rs"]["error_message"] == "task expired"
