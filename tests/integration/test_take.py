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

from workers.broker import take
from workers.broker.redis_transport import install

QUEUE = "take_test"


def _take(client: redis.Redis, keys: list[str]) -> list[bytes] | None:
    reply = client.eval(take.TAKE, len(keys), *keys, "unacked", "unacked_index", time.time())
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

    # not JSON: taken (the worker sets it aside), not held
    assert _take(redis_client, ["q", "q:9"]) == [b"q:9", b"second", b""]
    assert redis_client.hlen("unacked") == 1
    assert _take(redis_client, ["q", "q:9"]) is None


def test_a_message_without_delivery_info_is_taken_but_not_held(
    clean: str, redis_client: redis.Redis
) -> None:
    redis_client.lpush("q", json.dumps({"properties": {"delivery_tag": "t"}}))
    assert _take(redis_client, ["q"]) == [b"q", b'{"properties": {"delivery_tag": "t"}}', b""]
    assert redis_client.hlen("unacked") == 0


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
