"""The lifecycle hooks (``workers/recording/signals.py``), signal by signal, with no Redis.

The hooks hand their events to a sink that keeps them in memory (``CapturingSink``:
what would go on the wire, checked by the recorder's strict decoder). Celery's own code
sends the signals wherever it can: tasks are published through the app onto an
in-memory broker (kombu's ``memory://``), a message is taken off it and made a worker
``Request`` as the consumer does, and a request is run as a prefork pool child runs it
(``celery.app.trace``); the main process's paths are the ``Request``'s own (a hard time
limit, a lost child, a revoke, an expiry, a termination).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from billiard.einfo import ExceptionInfo
from billiard.exceptions import Terminated, WorkerLostError
from celery import signals as celery_signals
from celery.app.task import Context, Task
from celery.app.trace import build_tracer
from celery.exceptions import Retry
from celery.worker import state as worker_state
from celery.worker.request import Request
from kombu import Connection
from kombu.pools import ProducerPool
from kombu.transport import memory

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process too)
from persistence import wire
from persistence.lifecycle import stable_event_id
from tasks.registry import get_spec
from workers.app import app
from workers.beat.names import AGGREGATE_METRICS
from workers.producer import enqueue
from workers.recording import bootsteps, hook_state, signals
from workers.recording.hook_state import HookState
from workers.routing import BEAT_QUEUE
from workers.settings import get_settings

POOL_HOST = "pool@agentq-test"  # the worker's name, as the requests it runs carry it
MAIN_HOST = "main@agentq-test"  # the worker's name, as celeryd_after_setup gives it
QUEUE = "content_generator"
CONTENT = get_spec("content_generator")


class CapturingSink:
    """:class:`workers.recording.sink.EventSink`'s interface (``emit``, ``flush``,
    ``close``), in memory. Each emit is kept as the recorder would read it off the
    stream, after the strict decoder accepted it."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.finals: list[bool] = []  # each emit's final flag (whether a worker waits)
        self.calls: list[str] = []
        self.rejected: list[Exception] = []
        self.closed = False

    def emit(self, evs: list[dict[str, Any]], *, final: bool = True) -> None:
        payload = wire.encode(evs)
        try:
            wire.decode_entry(payload)
        except wire.BadEvent as exc:
            self.rejected.append(exc)
            raise
        self.batches.append(wire.decode(payload))
        self.finals.append(final)
        self.calls.append("emit")

    def flush(self) -> None:
        self.calls.append("flush")

    def close(self) -> None:
        self.closed = True

    @property
    def events(self) -> list[dict[str, Any]]:
        return [ev for batch in self.batches for ev in batch]


def fresh_hook_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hooks' state as in a new process; put back after the test."""
    monkeypatch.setattr(signals, "state", HookState())


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[CapturingSink]:
    """This process's sink is a CapturingSink, and the hooks' state starts empty."""
    fresh_hook_state(monkeypatch)
    capturing = CapturingSink()
    signals.state.sink_ = capturing  # type: ignore[assignment]
    signals.state.sink_pid = os.getpid()
    signals.state.disabled = False
    yield capturing
    assert capturing.rejected == [], "the strict decoder refused an event"


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connection]:
    """The app publishes onto an in-memory broker of this test's own."""
    monkeypatch.setattr(memory.Channel, "queues", {})
    monkeypatch.setattr(memory.Channel, "events", defaultdict(set))
    connection = Connection("memory://")
    pool = ProducerPool(connection.Pool(limit=2))
    monkeypatch.setattr(app.amqp, "_producer_pool", pool)
    yield connection
    pool.force_close_all()
    connection.release()


@pytest.fixture
def settings_env() -> Iterator[pytest.MonkeyPatch]:
    """Environment changes for one test; the settings are read again afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp
    get_settings.cache_clear()


# --- helpers ----------------------------------------------------------------------------
def publish_test_task(
    variant: str, input_data: dict[str, Any] | None = None, **options: Any
) -> str:
    """Publish one of tests/support/tasks.py's tasks (noop, boom, flaky, slow)."""
    result = app.tasks[f"agents.content_generator.{variant}"].apply_async(
        kwargs={"task_type": variant, "input_data": input_data or {}}, **options
    )
    return str(result.id)


def take(broker: Connection, queue: str = QUEUE) -> Request:
    """The next message on ``queue``, made a request as the worker's consumer does."""
    message = broker.default_channel.basic_get(queue)
    assert message is not None, f"nothing on {queue}"
    task = app.tasks[message.headers["task"]]
    return Request(message, app=app, task=task, hostname=POOL_HOST)


def receive(request: Request) -> None:
    """What the worker's main process does as a message arrives (celery.worker.strategy)."""
    celery_signals.task_received.send(sender=None, request=request)


def run_in_pool_child(request: Request) -> Any:
    """Run ``request`` as a prefork pool child does: the task's request context is
    pushed, task_prerun is sent, the task runs, then task_success, task_retry or
    task_failure is sent (celery.app.trace)."""
    tracer = build_tracer(
        request.task_name, request.task, app=app, hostname=request.hostname, eager=False
    )
    context = {
        **request.request_dict,
        "args": list(request.args),
        "kwargs": request.kwargs,
        "hostname": request.hostname,
        "is_eager": False,
    }
    return tracer(request.id, list(request.args), request.kwargs, context).retval


@contextlib.contextmanager
def running(task: Task, **request: Any) -> Iterator[Context]:
    """``task``'s request context pushed, as the pool child has it while the task runs."""
    task.push_request(**{"hostname": POOL_HOST, "retries": 0, "kwargs": {}, **request})
    try:
        yield task.request
    finally:
        task.pop_request()


@contextlib.contextmanager
def revoked_by_id(task_id: str) -> Iterator[None]:
    """``task_id`` in the worker's revoked set, as ``celery control revoke`` puts it."""
    worker_state.revoked.add(task_id)
    try:
        yield
    finally:
        worker_state.revoked.discard(task_id)


def exception_info(exc: BaseException) -> ExceptionInfo:
    try:
        raise exc
    except BaseException:
        return ExceptionInfo()


def fields(ev: dict[str, Any]) -> dict[str, Any]:
    """An event without its id and time (each test checks those apart)."""
    return {k: v for k, v in ev.items() if k not in ("id", "at")}


def measured(ev: dict[str, Any]) -> float:
    """Take the measured run time out of ``ev``'s result (a duration, checked here)."""
    seconds = ev["rs"].pop("execution_time_seconds")
    assert isinstance(seconds, float) and 0.0 <= seconds < 60.0, seconds
    return seconds


def is_random_id(event_id: str) -> bool:
    return len(event_id) == 32 and uuid.UUID(hex=event_id).version == 4


# --- the publishing process -----------------------------------------------------------------
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


# --- the pool child that runs the task ----------------------------------------------------
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


# --- the worker's main process ------------------------------------------------------------
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


# --- what is not an agent task's, or not a whole signal ----------------------------------
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


# --- the sink: one per process, flushed at shutdown ----------------------------------------
@pytest.fixture
def sink_factory(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """get_sink() builds CapturingSinks: ``built`` says with what, ``at_exit`` what it
    registered with atexit (nothing really is)."""
    fresh_hook_state(monkeypatch)
    factory = SimpleNamespace(built=[], at_exit=[])

    def build(url: str, stream: str, spool_dir: Any, *, confirm: str) -> CapturingSink:
        factory.built.append(
            {"url": url, "stream": stream, "spool_dir": spool_dir, "confirm": confirm}
        )
        return CapturingSink()

    monkeypatch.setattr(hook_state, "EventSink", build)
    monkeypatch.setattr(hook_state, "atexit", SimpleNamespace(register=factory.at_exit.append))
    return factory


def test_each_process_builds_its_own_sink_once(sink_factory: SimpleNamespace) -> None:
    s = get_settings()
    first = signals.get_sink()
    assert signals.get_sink() is first
    assert sink_factory.built == [
        {
            "url": s.recorder_redis_url,
            "stream": s.events_stream,
            "spool_dir": s.spool_dir,
            "confirm": "deferred",  # a publisher does not wait for Redis's replies
        }
    ]
    # A producer, beat, a worker's main process: the last replies are read at exit.
    assert sink_factory.at_exit == [signals.state.flush]

    # After a fork, the parent's sink (its socket) is not this process's.
    signals.state.sink_pid = os.getpid() + 1
    second = signals.get_sink()
    assert second is not first and signals.get_sink() is second
    assert len(sink_factory.built) == 2
    assert sink_factory.at_exit == [signals.state.flush]  # pool children flush at their shutdown


def test_a_worker_waits_for_each_reply_unless_told_otherwise(
    sink_factory: SimpleNamespace, settings_env: pytest.MonkeyPatch
) -> None:
    celery_signals.worker_init.send(sender=None)  # inherited by the pool's children
    signals.get_sink()
    settings_env.setenv("AGENTQ_EVENTS_CONFIRM", "deferred")
    get_settings.cache_clear()
    signals.reset()
    signals.get_sink()
    assert [b["confirm"] for b in sink_factory.built] == ["final", "deferred"]


def test_with_recording_off_nothing_is_recorded(
    sink_factory: SimpleNamespace, settings_env: pytest.MonkeyPatch, broker: Connection
) -> None:
    settings_env.setenv("AGENTQ_RECORDING", "false")
    get_settings.cache_clear()
    assert signals.get_sink() is None
    publish_test_task("noop")
    assert run_in_pool_child(take(broker)) == {"output_data": {"ok": True}, "quality_score": 1.0}
    assert sink_factory.built == []


def test_a_sink_that_fails_never_fails_the_work(
    sink: CapturingSink,
    broker: Connection,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(evs: list[dict[str, Any]]) -> None:
        raise ConnectionError("redis is gone")

    monkeypatch.setattr(sink, "emit", refuse)
    with caplog.at_level(logging.ERROR, logger=signals.__name__):
        task_id = publish_test_task("noop")
        request = take(broker)
        returned = run_in_pool_child(request)
    assert request.id == task_id
    assert returned == {"output_data": {"ok": True}, "quality_score": 1.0}
    assert caplog.text.count("could not record lifecycle event") == 3  # publish, run, end


def test_a_pool_child_flushes_its_sink_as_it_exits(sink: CapturingSink) -> None:
    celery_signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert sink.calls == ["flush"]


def test_a_sink_inherited_from_the_parent_is_not_flushed(
    sink: CapturingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signals.state, "sink_pid", os.getpid() + 1)
    celery_signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert sink.calls == []


def test_a_failed_flush_is_logged_not_raised(
    sink: CapturingSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse() -> None:
        raise ConnectionError("redis is gone")

    monkeypatch.setattr(sink, "flush", refuse)
    with caplog.at_level(logging.ERROR, logger=signals.__name__):
        celery_signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert "could not flush lifecycle events" in caplog.text


def test_the_worker_goes_offline_then_flushes_at_shutdown(
    sink: CapturingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    types = ["content_generator", "quiz_generator"]
    monkeypatch.setattr(bootsteps, "_running", {"worker": (MAIN_HOST, types)})
    before = time.time()
    celery_signals.worker_shutdown.send(sender=None)

    [offline] = sink.events
    assert {k: v for k, v in offline.items() if k != "at"} == {
        "k": "i",
        "w": MAIN_HOST,
        "types": types,
        "s": "offline",
    }
    assert before <= offline["at"] <= time.time()
    assert sink.calls == ["emit", "flush"]  # in the stream before the recorder's last drain
    assert bootsteps._running == {}


def test_reset_closes_and_forgets_the_sink(sink: CapturingSink) -> None:
    signals.reset()
    assert sink.closed
    assert signals.state.sink_ is None and signals.state.disabled is None
