"""TAKE (``workers/broker/take.py``) on a real Redis: it takes the first message in
kombu's order and writes kombu's unacked entry in the same step; producers ring the bell
with each message."""

from __future__ import annotations

import base64
import json
import os
import time

import redis
from kombu import Connection, Exchange, Queue

from workers.broker import guard, take
from workers.broker.dead_letters import SOURCE_MESSAGES, DeadLetters
from workers.broker.redis_transport import install

QUEUE = "take_test"


def _take(client: redis.Redis, keys: list[str], tag: str = "call-1") -> list[bytes] | None:
    held = ["unacked", "unacked_index", time.time(), take.TAKING, take.TAKING_INDEX, tag]
    reply = take.run(client, keys, held)
    return reply  # type: ignore[no-any-return]


def test_take_pops_in_order_and_holds_what_it_took(clean: str, redis_client: redis.Redis) -> None:
    env = {
        "body": "e30=",
        "headers": {"id": "t1", "stamped": []},  # an empty list stays a list
        "properties": {
            "delivery_tag": "tag-1",
            "delivery_info": {"exchange": "ex", "routing_key": "rk"},
        },
    }
    raw = json.dumps(env, separators=(",", ":")).encode()
    redis_client.lpush("q:9", b"second")
    redis_client.lpush("q", raw)

    key, item, held = _take(redis_client, ["q", "q:9"]) or []
    assert (key, item, held) == (b"q", raw, b"tag-1")
    # exactly what kombu's QoS.append writes: [message, exchange, routing key], the
    # message byte for byte, and the index scored with the time
    assert redis_client.hget("unacked", "tag-1") == b"[" + raw + b',"ex","rk"]'
    assert json.loads(redis_client.hget("unacked", "tag-1") or b"")[0] == env
    assert redis_client.zscore("unacked_index", "tag-1") is not None

    # not JSON: taken (the worker sets it aside), kept in the taking hash meanwhile
    assert _take(redis_client, ["q", "q:9"], "c2") == [b"q:9", b"second", b"taking:c2"]
    assert redis_client.hlen("unacked") == 1
    assert redis_client.hget(take.TAKING, "c2") == b"q:9\nsecond"
    assert _take(redis_client, ["q", "q:9"]) is None


def test_poison_a_worker_took_and_never_set_aside_ends_in_the_dead_letters(
    clean: str, redis_client: redis.Redis
) -> None:
    """A message without delivery info cannot go to the unacked set: TAKE keeps it in the
    taking hash; if the worker dies before setting it aside, the visibility sweep does."""
    raw = json.dumps({"properties": {"delivery_tag": "t"}}).encode()
    redis_client.lpush("content_generator:5", raw)
    taken = _take(redis_client, ["content_generator:5"], "c9")
    assert taken == [b"content_generator:5", raw, b"taking:c9"]
    assert redis_client.hlen("unacked") == 0
    # (the worker is "killed" here) not yet stale: nothing happens
    assert guard.set_aside_abandoned(redis_client, time.time() - 60) == 0
    assert guard.set_aside_abandoned(redis_client, time.time() + 1) == 1
    assert redis_client.hlen(take.TAKING) == 0 and redis_client.zcard(take.TAKING_INDEX) == 0
    (row,) = DeadLetters(redis_client).entries(SOURCE_MESSAGES)
    assert row["queue"] == "content_generator" and "stopped before" in row["reason"]
    assert row["preview"] == raw.decode()


def test_publishing_rings_the_bell_with_each_message(clean: str, redis_client: redis.Redis) -> None:
    install()
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with Connection(os.environ["CELERY_BROKER_URL"], transport_options={"sep": ":"}) as conn:
        producer = conn.Producer()
        for i in range(3):
            producer.publish({"n": i}, exchange=queue.exchange, routing_key=QUEUE, declare=[queue])
    assert redis_client.llen(take.bell(QUEUE, ":")) == 3
    assert redis_client.llen(QUEUE) == 3
    # and TAKE finds them oldest first, each held under its delivery tag
    taken = [_take(redis_client, [QUEUE]) or [] for _ in range(3)]
    bodies = [json.loads(base64.b64decode(json.loads(t[1])["body"])) for t in taken]
    assert bodies == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert redis_client.hlen("unacked") == 3 and all(t[2] for t in taken)


def test_a_no_ack_consumer_leaves_nothing_in_the_unacked_set(
    clean: str, redis_client: redis.Redis
) -> None:
    """A consumer with no_ack (Celery's control replies: ``ping``, ``inspect``) never acks:
    what TAKE held for it must leave the unacked set when it is delivered, or it stays
    there (counted as pending, restored to the queue after the visibility timeout)."""
    install()
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    got: list[object] = []
    with Connection(os.environ["CELERY_BROKER_URL"]) as conn:
        conn.Producer().publish(
            {"n": 1}, exchange=queue.exchange, routing_key=QUEUE, declare=[queue]
        )
        with conn.Consumer([queue], no_ack=True, callbacks=[lambda body, m: got.append(body)]):
            deadline = time.monotonic() + 20
            while not got and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except TimeoutError:
                    continue
    assert got == [{"n": 1}]
    assert redis_client.hlen("unacked") == 0 and redis_client.zcard("unacked_index") == 0
