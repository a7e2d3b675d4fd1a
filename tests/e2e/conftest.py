"""What the end-to-end tests share: publishing the test tasks, waiting for an execution
to be recorded, reading its history and its agent instance, and recording into a
private stream.

The tests start real workers (``tests/support/workers.py``) and publish from this
process, whose hooks record ``pending`` / ``queued``; the helpers read the records back
through the producer API or the database.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import psycopg
import pytest
import redis
import sqlalchemy.exc

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process too)
from persistence.lifecycle import RANK, TaskStatus
from tasks.registry import get_spec
from tests.support.database import libpq_url
from tests.support.soketi import SoketiServer, running_soketi
from tests.support.workers import wait_for
from workers.app import app
from workers.producer import get_execution
from workers.recording import signals
from workers.settings import get_settings

TERMINAL = frozenset({"completed", "failed", "cancelled"})

SOKETI_START_S = 120.0  # soketi to be up on a machine busy with worker processes

T = TypeVar("T")
Reader = Callable[[str], dict[str, Any] | None]


def poll(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """``wait_for`` for predicates that return None (or something falsy) until ready."""
    return cast(T, wait_for(predicate, timeout, interval, what=what))


# --- publishing -----------------------------------------------------------------------
def send_test_task(variant: str, input_data: dict[str, Any] | None = None, **options: Any) -> str:
    """Publish one of tests/support/tasks.py's tasks (noop, boom, flaky, slow) the way a
    producer would."""
    result = app.tasks[f"agents.content_generator.{variant}"].apply_async(
        kwargs={"task_type": variant, "input_data": input_data or {}}, **options
    )
    return str(result.id)


def send_content(**options: Any) -> str:
    """Publish the real content generator with its example input."""
    spec = get_spec("content_generator")
    result = app.tasks["agents.content_generator"].apply_async(
        kwargs={"task_type": spec.example_task_type, "input_data": spec.example}, **options
    )
    return str(result.id)


# --- reading the record ---------------------------------------------------------------
def wait_terminal(
    task_id: str, n_events: int = 0, timeout: float = 40.0, read: Reader = get_execution
) -> dict[str, Any]:
    """The execution once it is terminal, its history holds that terminal event and at
    least ``n_events`` events (signals of several processes reach the stream in any
    order). A read that fails is "not yet": the database may be coming back."""
    read_errors: list[Exception] = []

    def done() -> dict[str, Any] | None:
        try:
            rec = read(task_id)
        except (sqlalchemy.exc.SQLAlchemyError, psycopg.Error) as exc:
            read_errors[:] = [exc]
            return None
        read_errors.clear()
        if rec is None or rec["status"] not in TERMINAL:
            return None
        history = rec["history"]
        if len(history) < n_events or not any(h["status"] == rec["status"] for h in history):
            return None
        return rec

    try:
        return poll(done, timeout, f"execution {task_id} to finish", 0.2)
    except AssertionError as exc:
        if read_errors:
            raise AssertionError(f"{exc}; the last read failed: {read_errors[0]!r}") from exc
        raise


def wait_history(task_id: str, n_events: int, timeout: float = 10.0) -> dict[str, Any]:
    """The execution once its history holds at least ``n_events`` events."""

    def enough() -> dict[str, Any] | None:
        rec = get_execution(task_id)
        return rec if rec is not None and len(rec["history"]) >= n_events else None

    return poll(enough, timeout, f"{n_events} history events of {task_id}")


def in_lifecycle_order(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History events by (attempt, lifecycle rank, time): the order the merge sees.
    Their times alone do not order them: the producer stamps ``queued`` after its publish
    returns, and on a busy machine a worker can stamp ``running`` before that."""
    return sorted(
        history, key=lambda h: (h["attempt"], RANK[TaskStatus(h["status"])], h["occurred_at"])
    )


def steps(rec: dict[str, Any]) -> list[tuple[str, int]]:
    """The history as (status, attempt) pairs in lifecycle order."""
    return [(str(h["status"]), h["attempt"]) for h in in_lifecycle_order(rec["history"])]


def instance(database_url: str, agent_id: str) -> dict[str, Any] | None:
    """The ``agent_instances`` row of ``agent_id`` (``<agent_type>@<worker>``), if any."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        sql = "SELECT * FROM agent_instances WHERE agent_id = %s"
        return cur.execute(sql, (agent_id,)).fetchone()


# --- recording into a private stream --------------------------------------------------
@contextlib.contextmanager
def private_events_stream(
    monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis, purpose: str
) -> Iterator[str]:
    """This process (and a worker given the same ``AGENTQ_EVENTS_STREAM``) records into a
    stream of its own, which no recorder of the session database reads. On the way out
    ``monkeypatch`` is undone (whatever else the test set through it too), the settings
    and the sink are read again, and the stream and its dead letters are deleted."""
    stream = f"agentq:test:{purpose}:{uuid.uuid4().hex}"
    monkeypatch.setenv("AGENTQ_EVENTS_STREAM", stream)
    get_settings.cache_clear()
    signals.reset()
    try:
        yield stream
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        signals.reset()
        redis_client.delete(stream, stream + ":dead")


@pytest.fixture(scope="module")
def soketi() -> Iterator[SoketiServer]:
    """A real Pusher-protocol server for the module (skipped without ``npm install``)."""
    yield from running_soketi(timeout=SOKETI_START_S)
