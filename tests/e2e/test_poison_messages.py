"""Poison on the broker: no message, however malformed, stops, hangs or crash-loops a
worker. Each kind below is put on an agent queue among good tasks, as a hostile or buggy
producer would put it there; the worker must stay up, run the good tasks, set every
poison aside in the dead letters with its reason, and start again cleanly.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.e2e.conftest import send_test_task
from tests.support.servers import RedisServer
from tests.support.workers import WorkerProcess, wait_for
from workers.app import app
from workers.broker import dead_letters
from workers.producer import get_execution
from workers.settings import get_settings

pytestmark = pytest.mark.slow

QUEUE = "content_generator"
Envelope = dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _body(env: Envelope, body: bytes) -> bytes:
    env["body"] = _b64(body)
    return json.dumps(env).encode()


def _header(name: str, value: Any) -> Callable[[Envelope], bytes]:
    def mutate(env: Envelope) -> bytes:
        env["headers"][name] = value
        return json.dumps(env).encode()

    return mutate


def _drop_header(name: str) -> Callable[[Envelope], bytes]:
    def mutate(env: Envelope) -> bytes:
        env["headers"].pop(name)
        return json.dumps(env).encode()

    return mutate


def _set(key: str, value: Any) -> Callable[[Envelope], bytes]:
    def mutate(env: Envelope) -> bytes:
        env[key] = value
        return json.dumps(env).encode()

    return mutate


def _compressed_garbage(env: Envelope) -> bytes:
    env["headers"]["compression"] = "application/x-gzip"
    env["body"] = _b64(b"this is not gzip data")
    return json.dumps(env).encode()


def _huge(env: Envelope) -> bytes:
    payload = [[], {"task_type": "noop", "input_data": {"text": "x" * 6_000_000}}, None]
    return _body(env, json.dumps(payload).encode())


def _not_celery(env: Envelope) -> bytes:
    env["headers"] = {}
    env["body"] = _b64(b'{"hello": "world"}')
    return json.dumps(env).encode()


def _no_delivery_tag(env: Envelope) -> bytes:
    env["properties"].pop("delivery_tag")
    return json.dumps(env).encode()


# name -> (how a good envelope is turned into the poison, the kind of its dead letter)
POISONS: dict[str, tuple[Callable[[Envelope], bytes], str]] = {
    "envelope_not_json": (lambda env: b"{this is not json", "envelope"),
    "envelope_not_utf8": (lambda env: b"\xff\xfe\xfd", "envelope"),
    "envelope_not_an_object": (lambda env: b"[1, 2, 3]", "envelope"),
    "envelope_without_properties": (
        lambda env: json.dumps({"body": env["body"]}).encode(),
        "envelope",
    ),
    "envelope_without_delivery_tag": (_no_delivery_tag, "envelope"),
    "body_not_base64": (_set("body", "%%% not base64 %%%"), "envelope"),
    "body_not_json": (lambda env: _body(env, b"{not json"), "encoding"),
    "body_not_utf8": (lambda env: _body(env, b"\xff\xfe"), "encoding"),
    "body_a_number": (lambda env: _body(env, b"5"), "body"),
    "body_a_pair": (lambda env: _body(env, b"[[], {}]"), "body"),
    "body_args_not_a_list": (lambda env: _body(env, b"[5, {}, null]"), "body"),
    "body_kwargs_not_an_object": (lambda env: _body(env, b'[[], "x", null]'), "body"),
    "json_not_a_celery_message": (_not_celery, "headers"),
    "headers_not_an_object": (_set("headers", "oops"), "envelope"),
    "unknown_task": (_header("task", "agents.no_such_agent"), "unknown_task"),
    "task_name_not_a_string": (_header("task", 42), "headers"),
    "timelimit_malformed": (_header("timelimit", "abc"), "headers"),
    "timelimit_wrong_length": (_header("timelimit", [1, 2, 3]), "headers"),
    "eta_malformed": (_header("eta", "not-a-date"), "headers"),
    "eta_a_number": (_header("eta", 12345), "headers"),
    "expires_malformed": (_header("expires", "soon"), "headers"),
    "retries_not_a_number": (_header("retries", "many"), "headers"),
    "retries_negative": (_header("retries", -3), "headers"),
    "id_missing": (_drop_header("id"), "headers"),
    "id_not_a_string": (_header("id", 12345), "headers"),
    "id_empty": (_header("id", ""), "headers"),
    "content_type_pickle": (_set("content-type", "application/x-python-serialize"), "encoding"),
    "content_type_unknown": (_set("content-type", "application/x-agentq-nonsense"), "encoding"),
    "compressed_body_not_gzip": (_compressed_garbage, "encoding"),
    "message_of_several_mb": (_huge, "too_large"),
}


@pytest.fixture
def redis_db(clean: str, redis_client: redis.Redis) -> redis.Redis:
    return redis_client


def _good_envelope(r: redis.Redis) -> tuple[bytes, Envelope]:
    """Publish a good task (no worker runs yet) and take its envelope off the queue."""
    tid = send_test_task("noop")
    keys = [k for k in r.keys(f"{QUEUE}*") if r.type(k) == b"list" and not k.endswith(b":bell")]
    for key in keys:
        for raw in r.lrange(key, 0, -1):
            env = json.loads(raw)
            if env["headers"]["id"] == tid:
                r.lrem(key, 1, raw)
                return key, env
    raise AssertionError(f"the good task's message is not on {QUEUE}: keys {keys}")


def _push_poisons(r: redis.Redis) -> tuple[list[str], str]:
    """Good tasks around each poison; returns the good tasks' ids and the id of the task
    whose message was taken off the queue as the poisons' template (recorded as queued)."""
    key, template = _good_envelope(r)
    good = []
    for mutate, _ in POISONS.values():
        good.append(send_test_task("noop"))
        env = json.loads(json.dumps(template))
        env["headers"]["id"] = env["properties"]["correlation_id"] = str(uuid.uuid4())
        env["properties"]["delivery_tag"] = str(uuid.uuid4())
        r.lpush(key, mutate(env))
    good.append(send_test_task("noop"))
    return good, template["headers"]["id"]


def _completed(task_id: str) -> bool:
    rec = get_execution(task_id)
    return rec is not None and rec["status"] == "completed"


@pytest.fixture
def worker_env(database_url: str) -> Iterator[dict[str, str]]:
    yield {"AGENTQ_RECORDER_PROCESS": "true"}


def _reasons(r: redis.Redis) -> list[dict[str, Any]]:
    return dead_letters.DeadLetters(r).entries(dead_letters.SOURCE_MESSAGES)


def test_poison_on_the_queue_never_stops_the_worker(
    redis_db: redis.Redis, worker_env: dict[str, str]
) -> None:
    good, template_id = _push_poisons(redis_db)
    w = WorkerProcess("poison", concurrency=2, env=worker_env, queues=QUEUE)
    w.start(timeout=60)
    try:
        wait_for(
            lambda: all(_completed(t) for t in good) or w._died(),
            timeout=120,
            what="the good tasks around the poison to complete",
        )
        assert not w._died(), f"the worker died:\n{w.output()[-4000:]}"
        found = wait_for(
            lambda: len(_reasons(redis_db)) >= len(POISONS) and _reasons(redis_db),
            timeout=60,
            what=f"{len(POISONS)} dead letters",
        )
    finally:
        w.stop(timeout=30)
    assert w.proc is not None and w.proc.returncode == 0, (
        f"warm shutdown did not end the worker cleanly (rc {w.proc and w.proc.returncode}):"
        f"\n{w.output()[-4000:]}"
    )
    assert "Unrecoverable error" not in w.output()
    # Only the good tasks have rows: a poison is never recorded (once as task 'None').
    with psycopg.connect(get_settings().primary_database_url) as conn:
        ids = {r[0] for r in conn.execute("SELECT task_id FROM agent_executions")}
    assert ids == {*good, template_id}
    assert sorted(f["kind"] for f in found) == sorted(k for _, k in POISONS.values()), "\n".join(
        f"{f['kind']}: {f['reason']}" for f in found
    )
    assert all(f["reason"] and f["queue"] == QUEUE for f in found), found
    # Every poison was acknowledged: nothing is left on the queue nor unacked.
    queues = [k for k in redis_db.keys(f"{QUEUE}*") if not k.endswith(b":bell")]
    assert not [k for k in queues if redis_db.llen(k)]
    assert redis_db.hlen("unacked") == 0

    # A restart finds nothing to choke on, and good work goes on.
    again = WorkerProcess("poison-again", concurrency=1, env=worker_env, queues=QUEUE)
    again.start(timeout=60)
    try:
        tid = send_test_task("noop")
        wait_for(lambda: _completed(tid) or again._died(), 60, what="a task after the restart")
        assert not again._died(), again.output()[-4000:]
    finally:
        again.stop(timeout=30)
    assert again.proc is not None and again.proc.returncode == 0


# --- a broker that dies under the worker ------------------------------------------------
@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(extra_args=["--appendonly", "yes", "--dir", str(tmp_path)])
    srv.start()
    yield srv
    srv.stop()


def test_redis_killed_under_the_worker_does_not_end_it(
    database_url: str, own_redis: RedisServer, tmp_path: Path
) -> None:
    """Redis SIGKILLed while the worker holds unacknowledged messages (so it restores
    them as the connection drops), then started again: the worker reconnects and runs
    the next task, as Celery promises, instead of dying inside kombu."""
    env = {
        "CELERY_BROKER_URL": own_redis.url,
        "AGENTQ_DATA_DIR": str(tmp_path / "data"),
        "AGENTQ_RECORDER_PROCESS": "true",
    }
    conn = app.connection_for_write(own_redis.url)
    w = WorkerProcess("broker-dies", concurrency=2, env=env, queues=QUEUE)
    w.start(timeout=60)
    try:
        for i in range(3):  # held by the pool and the prefetch: unacknowledged
            app.tasks["agents.content_generator.slow"].apply_async(
                kwargs={"task_type": "slow", "input_data": {"seconds": 3, "n": i}},
                connection=conn,
            )
        client = redis.Redis.from_url(own_redis.url)
        wait_for(lambda: client.hlen("unacked") >= 2, 30, what="messages in flight")
        own_redis.kill()
        wait_for(
            lambda: "Cannot connect to redis" in w.output() or "ConnectionError" in w.output(),
            60,
            what="the worker to notice the broker is gone",
        )
        own_redis.start()
        conn.close()
        conn = app.connection_for_write(own_redis.url)
        app.tasks["agents.content_generator.noop"].apply_async(
            kwargs={"task_type": "noop", "input_data": {}},
            connection=conn,
            task_id=(tid := str(uuid.uuid4())),
        )
        wait_for(
            lambda: (
                w._died() or f"Task agents.content_generator.noop[{tid}] succeeded" in w.output()
            ),
            120,
            what="a task after the broker came back",
        )
        assert not w._died(), w.output()[-4000:]
    finally:
        w.stop(timeout=30)
        conn.close()
    assert "Unrecoverable error" not in w.output(), w.output()[-4000:]


# --- the operator's side: list, replay, purge, metrics ---------------------------------
def agentq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_dead_letters_are_listed_counted_replayed_and_purged(
    redis_db: redis.Redis, worker_env: dict[str, str]
) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from persistence.sql_store import SQLStore
    from workers.serve.metrics import AgentqCollector

    # A worker whose size limit is below any real message sets a good task aside, and
    # its recorder sets aside a stream entry that is not JSON.
    tid = send_test_task("noop")
    redis_db.xadd("agentq:events", {"e": b"{not json"})
    tiny = WorkerProcess(
        "tiny", concurrency=1, env={**worker_env, "AGENTQ_MAX_MESSAGE_BYTES": "16"}, queues=QUEUE
    )
    with tiny:
        wait_for(lambda: _reasons(redis_db), 60, what="the task to be set aside")
        wait_for(lambda: redis_db.xlen("agentq:events:dead"), 60, what="the entry set aside")

    listed = agentq("dead-letters", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    by_source = {r["source"]: r for r in rows}
    assert len(rows) == 2, rows
    msg = by_source["messages"]
    assert msg["kind"] == "too_large" and msg["task_id"] == tid and msg["queue"] == QUEUE
    assert "over the limit of 16" in msg["reason"]
    assert "not JSON" in by_source["recording"]["reason"]
    table = agentq("dead-letters")
    assert table.returncode == 0 and "too_large" in table.stdout, table.stdout

    # agentq health names them (degraded: something waits for an operator).
    report = json.loads(agentq("health", "--json").stdout)
    assert report["components"]["recording"]["dead_messages"] == 1
    assert "2 dead letters: 1 broker messages, 1 recording entries set aside" in " ".join(
        report["reasons"]
    ), report["reasons"]

    # /metrics counts them.
    store = SQLStore(get_settings().sqlalchemy_url, pool_size=1)
    registry = CollectorRegistry()
    registry.register(AgentqCollector(get_settings(), store))
    text = generate_latest(registry).decode()
    store.close()
    assert _metric(text, 'agentq_dead_letters{source="messages"}') == 1.0, text
    assert _metric(text, 'agentq_dead_letters{source="recording"}') == 1.0, text
    assert _metric(text, 'agentq_poison_messages_total{kind="too_large"}') == 1.0, text

    # Replayed onto its queue, the message runs on a worker with the default limit.
    replay = agentq("dead-letters", "--source", "messages", "--replay", "all", "--json")
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout) == {"messages": {"replayed": 1, "kept": []}}
    assert not _reasons(redis_db)
    with WorkerProcess("normal", concurrency=1, env=worker_env, queues=QUEUE):
        wait_for(lambda: _completed(tid), 60, what="the replayed task to complete")

    purged = agentq("dead-letters", "--purge", "--json")
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout) == {"messages": 0, "recording": 1}
    assert redis_db.xlen("agentq:events:dead") == 0
    assert agentq("dead-letters").stdout.strip() == "no dead letters"


def test_a_poison_stream_entry_never_halts_the_fleets_recording(
    redis_db: redis.Redis, worker_env: dict[str, str]
) -> None:
    """Issue 12's first finding, through real workers: an event with ``at`` = 1e20 made
    the database reject the batch and every recorder of the group retry it forever."""
    from persistence import wire

    now = time.time()
    poison = [
        wire.transition(
            uuid.uuid4().hex, str(uuid.uuid4()), "queued", 0, 1e20, "quiz_generator", "quiz"
        ),
        wire.transition(
            uuid.uuid4().hex, str(uuid.uuid4()), "queued", 0, now, "quiz_generator", "quiz"
        ),
    ]
    bad_id = redis_db.xadd("agentq:events", {"e": wire.encode(poison)})
    with (
        WorkerProcess("a", concurrency=1, env=worker_env, queues=QUEUE),
        WorkerProcess("b", concurrency=1, env=worker_env, queues=QUEUE),
    ):
        tids = [send_test_task("noop") for _ in range(6)]
        wait_for(lambda: all(_completed(t) for t in tids), 90, what="tasks after the poison")
        dead = wait_for(lambda: redis_db.xrange("agentq:events:dead"), 30, what="the dead letter")
    assert [f[b"entry"] for _, f in dead] == [bad_id]
    assert b"'at'" in dead[0][1][b"reason"]
