"""What the recording hooks' unit tests share (tests/unit/signal_hooks/ and
tests/unit/test_tracing.py): a sink that keeps the events in memory, kombu's in-memory
broker, and Celery's own publish and run paths.

The hooks hand their events to a sink that keeps them in memory (``CapturingSink``:
what would go on the wire, checked by the recorder's strict decoder). Celery's own code
sends the signals wherever it can: tasks are published through the app onto an
in-memory broker (kombu's ``memory://``), a message is taken off it and made a worker
``Request`` as the consumer does, and a request is run as a prefork pool child runs it
(``celery.app.trace``); the main process's paths are the ``Request``'s own (a hard time
limit, a lost child, a revoke, an expiry, a termination).

The fixtures ``sink``, ``broker`` and ``settings_env`` are defined here and made fixtures
of a module by importing them (tests/unit/signal_hooks/conftest.py does).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from billiard.einfo import ExceptionInfo
from celery import signals as celery_signals
from celery.app.task import Context, Task
from celery.app.trace import build_tracer
from celery.worker import state as worker_state
from celery.worker.request import Request
from kombu import Connection
from kombu.pools import ProducerPool
from kombu.transport import memory

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process too)
from persistence import wire
from tasks.registry import get_spec
from workers.app import app
from workers.recording import signals
from workers.recording.hook_state import HookState
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
