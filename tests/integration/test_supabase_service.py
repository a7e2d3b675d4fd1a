"""The integration design's SupabaseService calls: one contract, two backends (SQL and
supabase-py REST).

The REST backend talks HTTP to tests/support/postgrest.py, which answers as PostgREST
does from the same real PostgreSQL database the SQL backend uses; so every contract
test runs on both, and the HTTP tests below pin the requests supabase-py sends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from persistence.errors import DatabaseUnavailable, DataRejected
from persistence.mirror import MirrorGuard, MirrorUnavailable
from persistence.sql_records import SQLRecords
from persistence.sql_store import SQLStore
from persistence.supabase_rest import SupabaseRestStore
from tests.support.batches import task_transitions as transitions
from tests.support.postgrest import FakePostgrest

KEY = "service-role-key-that-must-never-leak"
AGENT = "quiz_generator"


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def fake(clean: str) -> Iterator[FakePostgrest]:
    server = FakePostgrest(libpq(clean)).start()
    yield server
    server.stop()


@pytest.fixture
def rest(fake: FakePostgrest) -> Iterator[SupabaseRestStore]:
    store = SupabaseRestStore(fake.url, KEY, timeout=2)
    yield store
    store.close()


@pytest.fixture(params=["sql", "rest"])
def backend(request: pytest.FixtureRequest, sql_store: SQLStore) -> Any:
    """(records, store) of one backend on the session database."""
    if request.param == "sql":
        return SQLRecords(sql_store), sql_store
    store = request.getfixturevalue("rest")
    return store, store


# --- the contract -------------------------------------------------------------------------
def test_agent_instances(backend: Any) -> None:
    records, _ = backend
    created = records.create_agent_instance(
        {"agent_id": "quiz_generator@w1", "agent_type": "quiz_generator", "configuration": {"a": 1}}
    )
    assert created["status"] == "initializing" and created["configuration"] == {"a": 1}
    again = records.create_agent_instance(
        {"agent_id": "quiz_generator@w1", "agent_type": "quiz_generator", "status": "idle"}
    )
    assert again["id"] == created["id"] and again["status"] == "idle"  # idempotent upsert
    updated = records.update_agent_instance("quiz_generator@w1", {"status": "busy"})
    assert updated["status"] == "busy"
    assert records.get_agent_instance("quiz_generator@w1")["status"] == "busy"
    assert records.get_agent_instance("nobody@nowhere") is None
    assert records.update_agent_instance("nobody@nowhere", {"status": "idle"}) == {}
    records.create_agent_instance({"agent_id": "code_reviewer@w1", "agent_type": "code_reviewer"})
    ids = [i["agent_id"] for i in records.get_all_agent_instances()]
    assert sorted(ids) == ["code_reviewer@w1", "quiz_generator@w1"]
    with pytest.raises(ValueError, match="unknown agent_instances columns: hue"):
        records.create_agent_instance({"agent_id": "x", "agent_type": "quiz_generator", "hue": 1})
    with pytest.raises(ValueError, match="needs agent_type"):
        records.create_agent_instance({"agent_id": "x"})


def test_task_executions_and_history(backend: Any) -> None:
    records, store = backend
    store.record(transitions("t-1"))  # creates the instance quiz_generator@w1 too
    row = records.get_task_execution("t-1")
    assert row["status"] == "completed" and row["output_data"] == {"ok": True}
    assert row["quality_score"] == 0.8 and row["input_data"] == {"n": 3}
    created = records.create_task_execution(
        {
            "task_id": "t-2",
            "agent_type": "quiz_generator",
            "task_type": "quiz",
            "input_data": {"q": 1},
            "agent_instance_id": row["agent_instance_id"],
            "user_id": str(uuid.UUID(int=7)),
        }
    )
    assert created["status"] == "pending" and created["user_id"] == str(uuid.UUID(int=7))
    updated = records.update_task_execution("t-2", {"status": "running", "worker": "w1"})
    assert (updated["status"], updated["worker"]) == ("running", "w1")
    assert records.update_task_execution("t-none", {"status": "failed"}) == {}
    assert records.get_task_execution("t-none") is None
    history = records.get_agent_task_history("quiz_generator@w1", limit=10)
    assert [h["task_id"] for h in history] == ["t-2", "t-1"]  # newest first
    assert len(records.get_agent_task_history("quiz_generator@w1", limit=1)) == 1
    assert records.get_agent_task_history("nobody@nowhere") == []


def test_status_update_goes_through_the_lifecycle_merge(backend: Any) -> None:
    """A status is a transition with its own event id: it never moves a row backward, and
    the history keeps it; the other columns of the call are a plain update."""
    records, store = backend
    store.record(transitions("t-done"))  # completed, on w1
    row = records.update_task_execution(
        "t-done", {"status": "running", "worker": "w9", "user_rating": 4}
    )
    assert (row["status"], row["worker"], row["user_rating"]) == ("completed", "w1", 4)
    assert row["output_data"] == {"ok": True} and row["completed_at"] is not None
    history = store.get_execution("t-done")["history"]
    assert [h["status"] for h in history] == [
        "pending",
        "queued",
        "running",
        "completed",
        "running",
    ]
    assert history[-1]["worker"] == "w9"

    records.create_task_execution({"task_id": "t-new", "agent_type": AGENT, "task_type": "quiz"})
    event = uuid.uuid4()
    moved = records.update_task_execution("t-new", {"status": "running"}, event_id=event)
    assert moved["status"] == "running" and moved["started_at"] is not None
    again = records.update_task_execution("t-new", {"status": "running"}, event_id=event)
    assert again["attempts"] == moved["attempts"]  # the same event: nothing twice
    done = records.update_task_execution(
        "t-new", {"status": "completed", "output_data": {"n": 1}, "quality_score": 0.5}
    )
    assert (done["status"], done["output_data"], done["quality_score"]) == (
        "completed",
        {"n": 1},
        0.5,
    )
    statuses = [h["status"] for h in store.get_execution("t-new")["history"]]
    assert statuses == ["running", "completed"]
    assert records.update_task_execution("t-none", {"status": "running"}) == {}
    with pytest.raises(ValueError, match="unknown status 'sleeping'"):
        records.update_task_execution("t-new", {"status": "sleeping"})


def test_agent_metrics(backend: Any) -> None:
    records, _ = backend
    records.create_agent_instance({"agent_id": "quiz_generator@w1", "agent_type": "quiz_generator"})
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    end = start + timedelta(minutes=5)
    per_instance = records.store_agent_metrics(
        {
            "agent_id": "quiz_generator@w1",
            "period_start": start,
            "period_end": end,
            "tasks_completed": 3,
        }
    )
    assert per_instance["period_duration_minutes"] == 5
    assert per_instance["agent_type"] == "quiz_generator"
    per_type = {"agent_type": "quiz_generator", "period_start": start, "period_end": end}
    first = records.store_agent_metrics({**per_type, "tasks_completed": 4})
    second = records.store_agent_metrics({**per_type, "tasks_completed": 5})
    assert first["id"] == second["id"] and second["tasks_completed"] == 5  # upsert by key
    again = records.store_agent_metrics(
        {
            "agent_id": "quiz_generator@w1",
            "period_start": start,
            "period_end": end,
            "tasks_completed": 6,
        }
    )
    assert again["id"] == per_instance["id"]
    rows = records.get_agent_metrics("quiz_generator@w1", hours=1)
    assert [(m["agent_id"], m["tasks_completed"]) for m in rows] == [("quiz_generator@w1", 6)]
    every = records.get_agent_metrics(None, hours=1)
    assert [(m["agent_id"], m["tasks_completed"]) for m in every] == [
        (None, 5),
        ("quiz_generator@w1", 6),
    ]
    assert records.get_agent_metrics("nobody@nowhere", hours=1) == []
    with pytest.raises(ValueError, match="unknown agent_id"):
        records.store_agent_metrics(
            {"agent_id": "nobody@x", "period_start": start, "period_end": end}
        )


def test_system_health_and_ping(backend: Any) -> None:
    records, _ = backend
    row = records.store_system_health({"status": "degraded", "total_agents": 3, "bogus": 1})
    assert (row["status"], row["total_agents"], row["overall_health_score"]) == ("degraded", 3, 50)
    assert records.ping() >= 0


def test_lifecycle_store_contract(backend: Any) -> None:
    """The recorder's Store calls: replays change nothing, status and history as recorded."""
    _, store = backend
    ts = transitions("t-9")
    first = store.record(ts[:2])
    assert (first.new_events, first.executions_created) == (2, 1)
    rest = store.record(list(reversed(ts)))  # reordered and partly replayed
    assert (rest.received, rest.new_events) == (4, 2)
    assert store.record(ts).new_events == 0
    row = store.get_execution("t-9")
    assert row["status"] == "completed" and row["attempts"] == 1
    assert [h["status"] for h in row["history"]] == ["pending", "queued", "running", "completed"]
    at = datetime.now(UTC)
    store.set_instances_status("w1", ["quiz_generator"], "offline", at, {"queues": ["q"]})
    store.heartbeat("w1", ["quiz_generator"])  # brings it back
    records = SQLRecords(store) if isinstance(store, SQLStore) else store
    inst = records.get_agent_instance("quiz_generator@w1")
    assert (inst["status"], inst["configuration"]) == ("idle", {"queues": ["q"]})
    assert inst["total_tasks_completed"] == 1


# --- supabase-py at its HTTP boundary -------------------------------------------------------
def test_requests_are_postgrest_requests(rest: SupabaseRestStore, fake: FakePostgrest) -> None:
    rest.create_agent_instance({"agent_id": "quiz_generator@w1", "agent_type": "quiz_generator"})
    post = fake.requests[-1]
    assert (post.method, post.path) == ("POST", "/rest/v1/agent_instances")
    assert post.param("on_conflict") == "agent_id"
    assert {"resolution=merge-duplicates", "return=representation"} <= post.prefer
    assert post.body == {
        "agent_id": "quiz_generator@w1",
        "agent_type": "quiz_generator",
        "status": "initializing",
    }
    assert post.headers["apikey"] == KEY and post.headers["authorization"] == f"Bearer {KEY}"

    rest.update_task_execution("t-1", {"user_rating": 5})  # no status: a plain PATCH
    patch = fake.requests[-1]
    assert (patch.method, patch.path, patch.param("task_id")) == (
        "PATCH",
        "/rest/v1/agent_executions",
        "eq.t-1",
    )
    assert patch.body["user_rating"] == 5 and "updated_at" in patch.body

    rest.record(transitions("t-1"))
    rpc = fake.requests[-1]
    assert (rpc.method, rpc.path) == ("POST", "/rest/v1/rpc/agentq_record_batch")
    assert [e["s"] for e in rpc.body["batch"]] == ["pending", "queued", "running", "completed"]

    rest.set_instances_status("w1", ["quiz_generator"], "idle", datetime.now(UTC))
    up = fake.requests[-1]
    assert up.param("on_conflict") == "agent_id" and "return=minimal" in up.prefer
    assert up.body[0]["current_task_id"] is None and up.body[0]["status"] == "idle"

    rest.get_agent_task_history("quiz_generator@w1", limit=5)
    get = fake.requests[-1]
    assert get.method == "GET" and get.param("limit") == "5"
    assert get.param("order") == "created_at.desc,task_id.asc"


def test_errors_are_translated_and_carry_no_key(
    rest: SupabaseRestStore, fake: FakePostgrest
) -> None:
    fake.fail(1, 503)
    with pytest.raises(DatabaseUnavailable) as down:
        rest.ping()
    fake.slow(3)  # longer than the client's 2 s timeout
    with pytest.raises(DatabaseUnavailable, match="timed out") as slow:
        rest.ping()
    fake.slow(0)
    with pytest.raises(DataRejected, match="22P02") as bad:
        rest.create_agent_instance({"agent_id": "x", "agent_type": "no_such_type"})
    for exc in (down.value, slow.value, bad.value):
        assert KEY not in str(exc) and KEY not in repr(exc)
    assert KEY not in repr(rest)


def test_retries_with_backoff_then_breaker(rest: SupabaseRestStore, fake: FakePostgrest) -> None:
    waits: list[float] = []
    guard = MirrorGuard(
        max_retries=3, retry_delay=0.5, breaker_failures=3, breaker_reset=60, sleep=waits.append
    )
    fake.fail(2, 503)
    before = len(fake.requests)
    assert guard.call(rest.ping) >= 0  # two 503s, then an answer
    assert len(fake.requests) - before == 3
    assert waits == [0.5, 1.0]  # exponential backoff
    assert guard.state == "closed"

    fake.down = True
    with pytest.raises(MirrorUnavailable):
        guard.call(rest.ping)
    assert guard.state == "open"
    seen = len(fake.requests)
    with pytest.raises(MirrorUnavailable, match="breaker open"):
        guard.call(rest.ping)
    assert len(fake.requests) == seen  # open: the mirror is not even asked

    fake.down = False
    refused = MirrorGuard(max_retries=3, retry_delay=0.5, sleep=waits.append)
    before = len(fake.requests)
    with pytest.raises(DataRejected):
        refused.call(rest.create_agent_instance, {"agent_id": "x", "agent_type": "nope"})
    assert len(fake.requests) - before == 1  # refused data is not retried
    assert refused.state == "closed"


def test_supabase_only_outage_is_buffered_by_the_recorder(
    rest: SupabaseRestStore, fake: FakePostgrest, redis_client: Any, tmp_path: Any
) -> None:
    """Supabase (REST) as the only database, and down: the stream keeps every transition
    until it is back, as for any primary."""
    from persistence import wire
    from workers.recording.recorder import Recorder
    from workers.recording.sink import EventSink

    kw = redis_client.connection_pool.connection_kwargs
    url = f"redis://{kw['host']}:{kw['port']}/{kw['db']}"
    sink = EventSink(url, "agentq:events", tmp_path)
    for n in range(3):
        sink.emit([wire.to_wire(t) for t in transitions(f"buffered-{n}")])
    rec = Recorder(url, rest, stream="agentq:events", consumer="t", block_ms=10)
    fake.down = True
    with pytest.raises(DatabaseUnavailable):
        rec.run_once()
    assert rec._backlog() == 3  # nothing acknowledged, nothing lost
    fake.down = False
    while rec.run_once():
        pass
    assert rec._backlog() == 0
    assert [rest.get_task_execution(f"buffered-{n}")["status"] for n in range(3)] == [
        "completed"
    ] * 3
