"""A recording-stream entry with field ``e`` twice (issue 20, item 7): set aside whole,
both values kept, never half recorded. redis-py's dict of fields kept only the second
``e``; the first vanished without a dead letter. Real Redis and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from persistence import wire
from persistence.sql_store import SQLStore
from tests.support.workers import wait_for
from workers.recording.recorder import GROUP, Recorder

STREAM = "agentq:events"
DEAD = STREAM + ":dead"


def _entry(task_id: str) -> bytes:
    now = time.time()
    return wire.encode(
        [wire.transition(uuid.uuid4().hex, task_id, "queued", 0, now, "quiz_generator", "quiz")]
    )


@pytest.fixture
def url(clean: str, redis_client: redis.Redis) -> str:
    kw = redis_client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw['db']}"


@pytest.fixture
def store(clean: str) -> Iterator[SQLStore]:
    s = SQLStore(clean, pool_size=2)
    yield s
    s.close()


def _recorded(store: SQLStore) -> set[str]:
    with store.engine.connect() as conn:
        return {r[0] for r in conn.exec_driver_sql("SELECT task_id FROM agent_executions")}


def _run(rec: Recorder, until: Any, what: str) -> Any:
    thread = threading.Thread(target=rec.run, daemon=True)
    thread.start()
    try:
        return wait_for(until, 30, what=what)
    finally:
        rec._stop.set()
        thread.join(5)


@pytest.mark.parametrize("path", ["read", "claimed from a dead recorder"])
def test_an_entry_with_e_twice_is_a_dead_letter_with_both_values(
    path: str, url: str, redis_client: redis.Redis, store: SQLStore
) -> None:
    before, first, second, third, after = (str(uuid.uuid4()) for _ in range(5))
    redis_client.xadd(STREAM, {"e": _entry(before)})
    values = [_entry(first), _entry(second), _entry(third)]
    odd_id = redis_client.execute_command(
        "XADD", STREAM, "*", "e", values[0], "e", values[1], "e", values[2]
    )
    redis_client.xadd(STREAM, {"e": _entry(after)})
    if path != "read":  # another recorder read them all and died
        redis_client.xgroup_create(STREAM, GROUP, id="0")
        redis_client.xreadgroup(GROUP, "gone", {STREAM: ">"}, count=10)
    rec = Recorder(url, store, stream=STREAM, consumer="c1", block_ms=10, claim_idle_ms=100)
    _run(
        rec,
        lambda: {before, after} <= _recorded(store) and redis_client.xlen(DEAD),
        "the good entries recorded and the odd one set aside",
    )
    [(_, letter)] = redis_client.xrange(DEAD)
    assert letter[b"entry"] == odd_id
    assert [letter[b"e"], letter[b"f.e#2"], letter[b"f.e#3"]] == values  # every value, as sent
    assert letter[b"reason"].startswith(b"entry has field 'e' more than once"), letter
    assert not {first, second, third} & _recorded(store)  # none recorded, none lost
    assert redis_client.xlen(STREAM) == 0  # acknowledged and deleted like any entry
