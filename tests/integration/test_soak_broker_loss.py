"""The soak's ``broker_loss`` fault on a real Redis: it deletes the plan's plain agent
tasks from the agent queues (any priority) and countdown tasks from kombu's unacked set,
byte for byte, and leaves everything else (drills, poison, tasks not in the plan)."""

from __future__ import annotations

import random
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasks.registry import get_spec
from workers.app import app
from workers.broker import take
from workers.demo.drills import drill_name
from workers.producer import enqueue
from workers.soak import broker_loss
from workers.soak.servers import free_port

SPEC = get_spec("content_generator")


def _enqueue(**options: object) -> str:
    return enqueue(SPEC.agent_type, SPEC.example_task_type, SPEC.example, **options)  # type: ignore[arg-type]


def _everywhere(client: redis.Redis) -> dict[str, str]:
    """Task id -> where its message is (a queue key, or "unacked")."""
    out = {}
    for key in broker_loss.queue_keys():
        for raw in client.lrange(key, 0, -1):
            if (found := broker_loss.plain_task(raw)) is not None:
                out[found[0]] = key
    for tag, entry in client.hgetall(broker_loss.UNACKED).items():
        held = broker_loss.held_message(entry)
        found = broker_loss.plain_task(held) if held else None
        if found is not None:
            out[found[0]] = "unacked"
            assert client.zscore(broker_loss.UNACKED_INDEX, tag) is not None
    return out


def test_broker_loss_deletes_the_plan_s_messages_and_nothing_else(
    clean: str, redis_client: redis.Redis
) -> None:
    # a worker has taken the countdown tasks and holds them (TAKE, as the fleet's workers)
    later = [_enqueue(countdown=600) for _ in range(3)]
    (key,) = set(_everywhere(redis_client).values())
    for i in range(len(later)):
        held = ["unacked", "unacked_index", time.time(), take.TAKING, take.TAKING_INDEX, f"c{i}"]
        take.run(redis_client, [key], held)
    ok = [_enqueue() for _ in range(5)] + [_enqueue(priority="urgent") for _ in range(3)]
    not_in_plan = _enqueue()
    drill = app.signature(drill_name(SPEC.agent_type)).apply_async(
        kwargs={"task_type": SPEC.example_task_type, "input_data": SPEC.example}
    )
    redis_client.lpush(SPEC.agent_type, b"poison: not a message")
    where = _everywhere(redis_client)
    assert {where[t] for t in later} == {"unacked"}
    assert {where[t] for t in ok} == {"content_generator:2", "content_generator:5"}

    kinds = {t: "ok" for t in ok} | {t: "countdown" for t in later} | {drill.id: "retry"}
    stop = threading.Event()
    evidence = broker_loss.inject(
        redis_client, lambda: kinds, 6, random.Random(1), time.time, stop.wait
    )
    deleted = evidence["task_ids"]
    assert evidence["deleted"] == 6 == len(deleted["queues"]) + len(deleted["unacked"])
    assert len(deleted["unacked"]) == 6 // broker_loss.UNACKED_SHARE
    assert set(deleted["unacked"]) <= set(later)
    assert set(deleted["queues"]) <= set(ok)

    after = _everywhere(redis_client)
    gone = {*deleted["queues"], *deleted["unacked"]}
    assert not gone & set(after)  # nowhere: not on a queue, not in the unacked set
    assert set(after) == set(where) - gone  # the rest untouched
    assert not_in_plan in after
    raw = b"".join(redis_client.lrange(f"{SPEC.agent_type}:5", 0, -1))
    assert drill.id.encode() in raw  # a drill is never deleted
    assert b"poison: not a message" in redis_client.lrange(SPEC.agent_type, 0, -1)


def test_broker_loss_with_nothing_to_delete_gives_up_with_zero_evidence(
    clean: str, redis_client: redis.Redis
) -> None:
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    evidence = broker_loss.inject(redis_client, dict, 5, random.Random(1), time.time, wait, 3)
    assert len(waits) == 3
    assert evidence["deleted"] == 0 and evidence["task_ids"] == {"queues": [], "unacked": []}


def test_without_held_countdown_tasks_the_queues_give_the_unacked_share(
    clean: str, redis_client: redis.Redis
) -> None:
    ok = [_enqueue() for _ in range(8)]
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    kinds = dict.fromkeys(ok, "ok")
    evidence = broker_loss.inject(
        redis_client, lambda: kinds, 6, random.Random(1), time.time, wait, 3
    )
    # the first two scans take only the queues' share (4); the last one the rest
    assert len(waits) == 2
    assert evidence["from_queues"] == 6 and evidence["from_unacked"] == 0
    assert len(set(_everywhere(redis_client)) & set(ok)) == 2


def test_a_scan_that_finds_redis_down_is_tried_again() -> None:
    # nothing listens there: the connection is refused, as while the soak restarts Redis
    port = free_port("127.0.0.1")
    down = redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    stop = threading.Event()
    evidence = broker_loss.inject(down, dict, 5, random.Random(1), time.time, stop.wait, 2)
    assert evidence["deleted"] == 0
    assert evidence["scans_redis_unreachable"] == 2
