"""Poison entries in the recording stream (issue 12): every entry either lands in
PostgreSQL or goes to the dead-letter stream with its id and the reason; the recorder
never stalls on one, and an entry it dead-lettered is never read again."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from persistence import wire
from persistence.sql_store import SQLStore
from tests.support.wire_strategies import entries
from workers.recording.recorder import GROUP, PROGRESS_SUFFIX, Recorder

STREAM = "agentq:events"
DEAD = STREAM + ":dead"
NOW = time.time()


def _good(task_id: str | None = None) -> list[dict[str, Any]]:
    """A task's pending + queued, as a producer writes them in one entry."""
    tid = task_id or str(uuid.uuid4())
    now = time.time()
    return [
        wire.transition(
            uuid.uuid4().hex, tid, "pending", 0, now, "quiz_generator", "quiz", request={"n": 1}
        ),
        wire.transition(uuid.uuid4().hex, tid, "queued", 0, now, "quiz_generator", "quiz"),
    ]


@pytest.fixture
def url(clean: str, redis_client: redis.Redis) -> str:
    kw = redis_client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw['db']}"


@pytest.fixture
def store(clean: str) -> Iterator[SQLStore]:
    s = SQLStore(clean, pool_size=2)
    yield s
    s.close()


def _backlog(client: redis.Redis) -> int:
    if not client.exists(STREAM):
        return 0
    for g in client.xinfo_groups(STREAM):
        if g["name"] in (GROUP, GROUP.encode()):
            return int(g["pending"] or 0) + int(g["lag"] or 0)
    return int(client.xlen(STREAM))


def _run_until_drained(rec: Recorder, client: redis.Redis, timeout: float = 15.0) -> None:
    """The recorder's own loop (``run``, as in a worker) until the group has nothing
    pending or undelivered; fails after ``timeout`` (a stalled recorder)."""
    rec._stop.clear()
    thread = threading.Thread(target=rec.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while _backlog(client) > 0 or client.xlen(STREAM) > 0:
            assert time.monotonic() < deadline, f"recorder stalled: {rec.stats}"
            time.sleep(0.02)
    finally:
        rec._stop.set()
        thread.join(5)


def _recorded_tasks(store: SQLStore) -> set[str]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT DISTINCT task_id FROM agent_execution_events")
        return {r[0] for r in rows}


def _dead(client: redis.Redis) -> dict[bytes, dict[bytes, bytes]]:
    """The dead letters by the stream id of the entry they came from."""
    return {f[b"entry"]: f for _, f in client.xrange(DEAD)}


def test_an_out_of_range_time_is_dead_lettered_and_recording_goes_on(
    url: str, redis_client: redis.Redis, store: SQLStore
) -> None:
    """The reproduction of issue 12: ``"at": 1e20`` made the database reject the batch,
    the slow path raised OverflowError, and the recorder retried the same entries forever."""
    before, after = str(uuid.uuid4()), str(uuid.uuid4())
    redis_client.xadd(STREAM, {"e": wire.encode(_good(before))})
    poison = _good()
    poison[1]["at"] = 1e20
    payload = wire.encode(poison)
    bad_id = redis_client.xadd(STREAM, {"e": payload})
    redis_client.xadd(STREAM, {"e": wire.encode(_good(after))})
    rec = Recorder(url, store, stream=STREAM, consumer="c1", block_ms=10, max_backoff=0.05)

    _run_until_drained(rec, redis_client)

    assert {before, after} <= _recorded_tasks(store)
    dead = _dead(redis_client)
    assert list(dead) == [bad_id]
    assert dead[bad_id][b"e"] == payload  # the original bytes
    assert b"'at'" in dead[bad_id][b"reason"]
    # Not stuck: a new entry is recorded, the poison one is never read again.
    fresh = str(uuid.uuid4())
    redis_client.xadd(STREAM, {"e": wire.encode(_good(fresh))})
    _run_until_drained(rec, redis_client)
    assert fresh in _recorded_tasks(store)
    assert redis_client.xlen(DEAD) == 1


# --- one bad entry of each kind, between good ones ---------------------------------------
def _one_event(**change: Any) -> bytes:
    [ev] = _good()[1:]
    ev.update({"t": str(uuid.uuid4()), **change})  # a task of its own
    return wire.encode([ev])


def _fields(payload: bytes) -> dict[str, bytes]:
    return {"e": payload}


_NUL_OUTPUT = {"output_data": {"text": "a\x00b"}, "quality_score": 0.5}
POISON: dict[str, tuple[dict[str, bytes], str]] = {
    "at 1e20": (_fields(_one_event(at=1e20)), "'at'"),
    "at year 9999": (_fields(_one_event(at=253_402_000_000.0)), "'at'"),
    "at as a string": (_fields(_one_event(at="1e20")), "'at'"),
    "attempt -1": (_fields(_one_event(a=-1)), "'a'"),
    "attempt true": (_fields(_one_event(a=True)), "'a'"),
    "attempt 1.5": (_fields(_one_event(a=1.5)), "'a'"),
    "id not a uuid": (_fields(_one_event(id="not-a-uuid")), "'id'"),
    "status bogus": (_fields(_one_event(s="bogus")), "'s'"),
    "unknown agent type": (_fields(_one_event(ag="nobody")), "'ag'"),
    "NUL in the task id": (_fields(_one_event(t="a\x00b")), "'t'"),
    "NUL in output_data": (_fields(_one_event(s="completed", rs=_NUL_OUTPUT)), "'rs'"),
    "task id over the btree limit": (
        _fields(_one_event(t=os.urandom(3000).hex())),  # SQLSTATE 54000 in PostgreSQL
        "'t'",
    ),
    "not a list": (_fields(b'{"k": "t"}'), "JSON list"),
    "a list of numbers": (_fields(b"[1, 2]"), "JSON list"),
    "empty payload": (_fields(b""), "not JSON"),
    "no e field": ({"x": b"1"}, "no 'e' field"),
    "invalid UTF-8": (_fields(b'[{"t": "\xff"}]'), "not JSON"),
    "user_id not a uuid": (
        _fields(_one_event(s="pending", rq={"user_id": "nobody"})),
        "rejected by the database: invalid input syntax for type uuid",
    ),
    "quality score 7": (
        _fields(_one_event(s="completed", rs={"quality_score": 7.0})),
        "rejected by the database: new row for relation",
    ),
    "bad instance event": (
        _fields(wire.encode([wire.instance("w@h", ["nobody"], "idle", time.time())])),
        "'types'",
    ),
}


@pytest.mark.parametrize("case", list(POISON))
def test_each_poison_entry_is_dead_lettered_and_the_rest_recorded(
    case: str, url: str, redis_client: redis.Redis, store: SQLStore
) -> None:
    fields, reason = POISON[case]
    first, last = str(uuid.uuid4()), str(uuid.uuid4())
    redis_client.xadd(STREAM, {"e": wire.encode(_good(first))})
    bad_id = redis_client.xadd(STREAM, fields)  # type: ignore[arg-type]
    redis_client.xadd(STREAM, {"e": wire.encode(_good(last))})
    rec = Recorder(url, store, stream=STREAM, consumer="c1", block_ms=10, max_backoff=0.05)

    _run_until_drained(rec, redis_client)

    assert {first, last} <= _recorded_tasks(store)
    dead = _dead(redis_client)
    assert list(dead) == [bad_id]
    assert reason.encode() in dead[bad_id][b"reason"], dead[bad_id][b"reason"]
    assert dead[bad_id][b"e"] == fields.get("e", b"")  # the original bytes
    assert rec.stats.dead_letters == 1 and rec.stats.db_errors == 0


def test_a_dead_letter_keeps_every_field_of_the_entry(
    url: str, redis_client: redis.Redis, store: SQLStore
) -> None:
    bad_id = redis_client.xadd(STREAM, {"x": b"1", "y": b"\xff"})
    rec = Recorder(url, store, stream=STREAM, consumer="c1", block_ms=10)
    _run_until_drained(rec, redis_client)
    letter = _dead(redis_client)[bad_id]
    assert (letter[b"f.x"], letter[b"f.y"], letter[b"e"]) == (b"1", b"\xff", b"")
    assert letter[b"reason"] == b"entry has no 'e' field (fields: x, y)"


def test_a_reason_is_one_short_printable_line() -> None:
    from workers.recording.entries import REASON_MAX_CHARS, reason_of

    assert reason_of(ValueError("a\nb\x00c\ud800")) == "ValueError: a b\\x00c\\ud800"
    assert len(reason_of(RuntimeError("x" * 10_000))) == REASON_MAX_CHARS
    assert reason_of(wire.BadEvent("not JSON: oops")) == "not JSON: oops"


# --- the database's errors: data is refused, an outage is waited out -------------------
def test_data_errors_of_every_class_are_data_rejected(store: SQLStore) -> None:
    """22 (data exception), 23 (integrity) and 54 (program limit: psycopg files it under
    OperationalError, which used to read as an outage and be retried forever)."""
    from persistence.errors import DataRejected

    cases = {
        "22": _one_event(at="soon"),
        "23": _one_event(s="completed", rs={"quality_score": 7.0}),
        "54": _one_event(t=os.urandom(3000).hex()),
    }
    for sqlstate_class, batch in cases.items():
        with pytest.raises(DataRejected) as err:
            store.record_wire(batch)
        assert err.value.__cause__ is not None, sqlstate_class
        assert err.value.__cause__.orig.sqlstate.startswith(sqlstate_class)  # type: ignore[attr-defined]
    with pytest.raises(DataRejected, match="not UTF-8"):
        store.record_wire(b'[{"t": "\xff"}]')
    with pytest.raises(DataRejected, match="'at'"):
        store.record_wire(_one_event(at=1e12))  # PostgreSQL would store year 33658
    assert _recorded_tasks(store) == set()


class _Unavailable:
    """A store whose database is down: every call raises DatabaseUnavailable."""

    def __getattr__(self, name: str) -> Any:
        from persistence.errors import DatabaseUnavailable

        def down(*_: Any, **__: Any) -> Any:
            raise DatabaseUnavailable("connection refused")

        return down


def test_an_outage_dead_letters_nothing(url: str, redis_client: redis.Redis) -> None:
    redis_client.xadd(STREAM, {"e": _one_event(at=1e20)})  # would be dead-lettered
    redis_client.xadd(STREAM, {"e": wire.encode(_good())})
    rec = Recorder(url, _Unavailable(), stream=STREAM, consumer="c1", block_ms=10)
    for _ in range(3):
        with pytest.raises(Exception, match="connection refused"):
            rec.run_once()
    assert redis_client.xlen(DEAD) == 0
    assert redis_client.xlen(STREAM) == 2 and _backlog(redis_client) == 2


# --- any mix of entries: each lands or is dead-lettered, and recording goes on ----------
def _drain(rec: Recorder, client: redis.Redis, timeout: float = 20.0) -> None:
    """``run_once`` (which raises what ``run`` would only log) until nothing waits."""
    deadline = time.monotonic() + timeout
    while _backlog(client) > 0 or client.xlen(STREAM) > 0:
        assert time.monotonic() < deadline, f"recorder stalled: {rec.stats}"
        rec.run_once()


def _ids_recorded(store: SQLStore, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id FROM agent_execution_events WHERE id = ANY(%(ids)s)", {"ids": ids}
        )
        return {r[0] for r in rows}


def _event_ids(payload: bytes) -> list[uuid.UUID]:
    """The ids PostgreSQL must have stored for an entry it accepted (as Python reads them)."""
    import json

    out = []
    for ev in json.loads(payload.decode()):
        try:
            out.append(uuid.UUID(ev["id"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return out


def _strict_reason(payload: bytes | None) -> str | None:
    """Why the strict decoder refuses the entry (as a dead letter says it), or None."""
    from workers.recording.entries import reason_of

    if payload is None:
        return "entry has no 'e' field (fields: x)"
    try:
        wire.decode_entry(payload)
    except wire.BadEvent as exc:
        return reason_of(exc)
    return None


@st.composite
def _edge_entries(draw: st.DrawFn) -> dict[str, bytes]:
    """Entries near the line: valid for the decoder but maybe not for the database
    (a CHECK, a cast inside rq), or taken by the database but not by the decoder."""
    [ev] = _good()[1:]
    ev["t"] = str(uuid.uuid4())
    edge = draw(st.sampled_from(["score", "priority", "a", "t", "id", "at"]))
    if edge == "score":
        ev.update(s="completed", rs={"quality_score": draw(st.floats(-0.5, 1.5))})
    elif edge == "priority":
        ev.update(s="pending", rq={"priority": draw(st.sampled_from(["low", "bogus"]))})
    elif edge == "a":
        ev["a"] = str(draw(st.integers(0, 2)))
    elif edge == "t":
        ev["t"] = draw(st.integers(1, 2**31))
    elif edge == "id":
        ev["id"] = "{" + str(uuid.UUID(ev["id"])) + "}"
    else:
        ev["at"] = str(NOW)
    return {"e": wire.encode([ev])}


def _any_fields() -> Any:
    return entries.map(lambda p: {"e": p}) | _edge_entries() | st.just({"x": b"no e"})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_entries_land_or_are_dead_lettered_and_recording_goes_on(
    url: str, redis_client: redis.Redis, store: SQLStore, data: st.DataObject
) -> None:
    redis_client.delete(STREAM, DEAD, STREAM + PROGRESS_SUFFIX)  # tasks and ids are fresh
    good = [wire.encode(_good()) for _ in range(data.draw(st.integers(1, 4)))]
    worker = f"w{uuid.uuid4().hex[:8]}@h"
    if data.draw(st.booleans()):
        good.append(wire.encode([wire.instance(worker, ["quiz_generator"], "idle", NOW)]))
    anything = data.draw(st.lists(_any_fields(), min_size=1, max_size=4))
    mixed = data.draw(st.permutations([{"e": g} for g in good] + anything))
    ids = [redis_client.xadd(STREAM, fields) for fields in mixed]
    rec = Recorder(
        url,
        store,
        stream=STREAM,
        consumer="prop",
        block_ms=5,
        batch_size=data.draw(st.sampled_from([2, 500])),
    )
    try:
        _drain(rec, redis_client)
        _check_outcome(store, redis_client, dict(zip(ids, mixed, strict=True)), set(good))
        if len(good) > len([g for g in good if b'"k":"i"' not in g]):
            assert _instance_status(store, worker) == "idle"
        fresh = wire.encode(_good())  # not stuck: the next entry is recorded
        redis_client.xadd(STREAM, {"e": fresh})
        _drain(rec, redis_client)
        assert len(_ids_recorded(store, _event_ids(fresh))) == 2
    finally:
        rec.redis.close()


def _check_outcome(
    store: SQLStore,
    client: redis.Redis,
    entries: dict[bytes, dict[str, Any]],
    good: set[bytes],
) -> None:
    letters = client.xrange(DEAD)
    dead = _dead(client)
    assert len(letters) == len(dead), "an entry was dead-lettered twice"
    for eid, fields in entries.items():
        payload = fields.get("e")
        strict = _strict_reason(payload)
        if payload in good:
            assert eid not in dead
            assert set(_ids_recorded(store, _event_ids(payload))) == set(_event_ids(payload))
        elif eid in dead:
            event("dead-lettered: " + ("strict" if strict else "database"))
            letter = dead[eid]
            assert letter[b"e"] == (payload if payload is not None else b"")
            reason = letter[b"reason"].decode()
            assert reason == strict or reason.startswith("rejected by the database: ")
        else:  # PostgreSQL took it in a good batch (module docstring of persistence/wire.py)
            event("recorded: " + ("fast path only" if strict else "valid"))
            assert payload is not None
            ids = _event_ids(payload)
            assert _ids_recorded(store, ids) == set(ids)


def _instance_status(store: SQLStore, worker: str) -> str | None:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT status::text FROM agent_instances WHERE worker = %(w)s", {"w": worker}
        ).scalar()


# --- health: a recorder that makes no progress while entries wait is unhealthy ------------
def _age(client: redis.Redis, seconds: float) -> None:
    """An entry that has waited ``seconds``, and a last commit as long ago."""
    ms = int((time.time() - seconds) * 1000)
    client.xadd(STREAM, {"e": wire.encode(_good())}, id=f"{ms}-0")
    client.hset(STREAM + PROGRESS_SUFFIX, "at", time.time() - seconds)


def test_health_says_unhealthy_when_recording_stalls(
    store: SQLStore, redis_client: redis.Redis
) -> None:
    from workers.health.report import health_check
    from workers.routing import AGENT_TYPES

    # A worker is online (its heartbeats are fresh), but its recorder makes no progress.
    store.set_instances_status("w1@h", list(AGENT_TYPES), "idle", datetime.now(UTC))
    _age(redis_client, 120)
    redis_client.xadd(STREAM, {"e": wire.encode(_good())})  # and it grows
    report = health_check(store=store)
    assert report["status"] == "unhealthy"
    assert report["reasons"] == [
        "recording stalled: 2 entries waiting, no batch committed for 120 s"
    ]  # not also "recording lag"
    rec = report["components"]["recording"]
    assert rec["stalled"] and rec["stall_after_seconds"] == 60.0


def test_health_tells_a_stalled_recorder_from_a_slow_or_absent_one(
    url: str, redis_client: redis.Redis, store: SQLStore
) -> None:
    from workers.health.checks import check_recording
    from workers.health.verdict import verdict

    _age(redis_client, 120)
    assert check_recording(url, STREAM)["stalled"]
    # A recorder committed a batch just now: behind, but moving (degraded, lag).
    redis_client.hset(STREAM + PROGRESS_SUFFIX, "at", time.time())
    rec = check_recording(url, STREAM)
    assert not rec["stalled"] and rec["last_commit_age_seconds"] < 5
    status, reasons = verdict({"recording": rec})
    assert status == "degraded" and reasons[0].startswith("recording lag 12")
    # No recorder ever ran on this stream (no marker): lag, not a stall.
    redis_client.delete(STREAM + PROGRESS_SUFFIX)
    assert not check_recording(url, STREAM)["stalled"]
    # Nothing waits: an idle recorder is healthy however long ago it committed.
    redis_client.delete(STREAM)
    redis_client.hset(STREAM + PROGRESS_SUFFIX, "at", time.time() - 3600)
    assert verdict({"recording": check_recording(url, STREAM)}) == ("healthy", [])


def test_a_stuck_recorder_shows_as_stalled(url: str, redis_client: redis.Redis) -> None:
    """A real recorder that reads but cannot commit (here: its database is down)."""
    from workers.health.checks import check_recording
    from workers.health.verdict import verdict

    redis_client.xadd(STREAM, {"e": wire.encode(_good())})
    rec = Recorder(url, _Unavailable(), stream=STREAM, consumer="c1", block_ms=10)
    with pytest.raises(Exception, match="connection refused"):
        rec.run_once()  # started (the marker), read the entry, could not commit it
    time.sleep(0.3)
    redis_client.xadd(STREAM, {"e": wire.encode(_good())})
    state = check_recording(url, STREAM, stall_after_s=0.2)
    assert state["stalled"] and state["backlog"] == 2
    status, reasons = verdict({"recording": state})
    assert status == "unhealthy" and reasons[0].startswith("recording stalled: 2 entries waiting")


def test_the_recorder_marks_its_progress(
    url: str, redis_client: redis.Redis, store: SQLStore
) -> None:
    for _ in range(3):
        redis_client.xadd(STREAM, {"e": wire.encode(_good())})
    rec = Recorder(url, store, stream=STREAM, consumer="c1", block_ms=10)
    _drain(rec, redis_client)
    marker = redis_client.hgetall(STREAM + PROGRESS_SUFFIX)
    assert marker[b"entries"] == b"3" and marker[b"consumer"] == b"c1"
    assert time.time() - float(marker[b"at"]) < 5


def test_an_unmigrated_database_makes_entries_wait_not_dead(
    url: str, redis_client: redis.Redis, database_url: str
) -> None:
    """A database without our schema (not migrated yet, or the wrong one) answers every
    batch with "function ... does not exist": that is the database not being ready, so
    entries wait in the stream, as in an outage, and land once it is migrated."""
    import psycopg

    from persistence.errors import SchemaNotReady
    from persistence.migration_service import MigrationService
    from tests.conftest import PG_ADMIN

    name = f"agentq_unmigrated_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    empty_url = database_url.rsplit("/", 1)[0] + "/" + name
    empty = SQLStore(empty_url, pool_size=1)
    try:
        tid = str(uuid.uuid4())
        redis_client.xadd(STREAM, {"e": wire.encode(_good(tid))})
        rec = Recorder(url, empty, stream=STREAM, consumer="c1", block_ms=10)
        for _ in range(2):
            with pytest.raises(SchemaNotReady, match="agentq migrate"):
                rec.run_once()
        assert redis_client.xlen(DEAD) == 0 and _backlog(redis_client) == 1

        MigrationService(empty_url).run_migrations()
        _drain(rec, redis_client)
        assert tid in _recorded_tasks(empty) and redis_client.xlen(DEAD) == 0
    finally:
        empty.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
