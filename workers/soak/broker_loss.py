"""The ``broker_loss`` fault: messages deleted straight from Redis while the fleet runs.

Redis with ``appendfsync everysec`` can lose the last second of acknowledged writes; here
the loss is made on purpose and exactly: a seeded number of the plan's messages are
deleted from the agent queues (every priority sub-queue: kombu names priority ``p`` of
queue ``q`` as ``q:p``, ``q`` alone for 0) and from kombu's unacked set (hash ``unacked``
and its index ``unacked_index``). The record still says ``queued``, the broker has
nothing: the reconciler (``workers/reconcile``, run by the soak's beat with repair on)
must find each one and publish it again.

Only the plan's plain agent tasks (published with ``workers.producer.enqueue``) are
deleted: their recorded input is all a re-publish needs. A retry drill's failures live
in its Celery kwargs, a slow task's pause in its task name, a poison message has no row;
the reconciler could not rebuild those as they were sent (docs/reconcile.md says when a
repair is safe). From the unacked set it takes only countdown tasks whose ETA is still
ahead: the worker that holds one keeps it in memory and runs it on time (unless it is
killed or cut off first: then the reconciler must repair it), whereas deleting the entry
of a task that is running would only matter if its worker died mid-run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from persistence.schema import AGENT_TYPE_VALUES
from workers.routing import queue_name, task_name

UNACKED = "unacked"  # kombu's Redis transport defaults (the fleet keeps them)
UNACKED_INDEX = "unacked_index"
PRIORITY_STEPS = range(10)  # workers/celeryconfig.py broker_transport_options
SEP = ":"
PLAIN_KINDS = frozenset({"ok", "bad_content", "countdown"})  # published by enqueue()
HELD_KINDS = frozenset({"countdown"})  # waiting in a worker's memory for their ETA
ETA_MARGIN_S = 2.0  # an entry whose ETA is this close may be running already
UNACKED_SHARE = 3  # up to one deletion in this many from the unacked set
PAGE = 200
ATTEMPTS = 90  # scans, 0.5 s apart: the unacked share may need the backlog to drain


@dataclass(frozen=True, slots=True)
class Candidate:
    where: str  # "queue" or "unacked"
    key: str  # the queue key, or the delivery tag in the unacked hash
    raw: bytes  # the queue item, or the unacked entry, byte for byte (LREM matches bytes)
    task_id: str
    eta: float | None  # epoch seconds, for ETA tasks


def queue_keys() -> list[str]:
    """Every agent queue's key for every priority step, as kombu names them."""
    out = []
    for agent_type in AGENT_TYPE_VALUES:
        q = queue_name(agent_type)
        out += [q if pri == 0 else f"{q}{SEP}{pri}" for pri in PRIORITY_STEPS]
    return out


def plain_task(message: bytes) -> tuple[str, float | None] | None:
    """(task id, ETA) of a Celery message of a plain agent task (``agents.<type>``), or
    None for anything else (poison, drills, slow tasks, beat's tasks)."""
    try:
        env = json.loads(message)
        headers = env["headers"]
        task, task_id, eta = headers["task"], headers["id"], headers.get("eta")
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(task_id, str) or task not in _PLAIN_NAMES:
        return None
    try:
        return task_id, None if eta is None else datetime.fromisoformat(eta).timestamp()
    except (TypeError, ValueError):
        return None


_PLAIN_NAMES = frozenset(task_name(a) for a in AGENT_TYPE_VALUES)


def held_message(entry: bytes) -> bytes | None:
    """The message inside an unacked entry (``[message, exchange, routing key]``)."""
    try:
        held = json.loads(entry)
        return json.dumps(held[0]).encode() if isinstance(held, list) and held else None
    except ValueError:
        return None


def scan(client: Any, page: int = PAGE) -> list[Candidate]:
    """Plain agent tasks on the queues (the newest ``page`` of each sub-queue: the oldest
    are about to be taken) and in the unacked set (HSCAN, in pages)."""
    out: list[Candidate] = []
    keys = queue_keys()
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.lrange(key, 0, page - 1)
    for key, items in zip(keys, pipe.execute(), strict=True):
        for raw in items:
            if (found := plain_task(raw)) is not None:
                out.append(Candidate("queue", key, raw, *found))
    for tag, entry in client.hscan_iter(UNACKED, count=page):
        message = held_message(entry)
        if message is not None and (found := plain_task(message)) is not None:
            out.append(Candidate("unacked", tag.decode(), entry, *found))
    return out


def choose(
    candidates: list[Candidate],
    kinds: Mapping[str, str],
    quotas: tuple[int, int],
    rng: random.Random,
    now: float,
) -> list[Candidate]:
    """Up to ``quotas`` = (from the queues, from the unacked set) of ``candidates`` to
    delete, drawn with ``rng``: the plan's plain jobs (``kinds``: task id -> plan kind) on
    the queues; countdown jobs whose ETA is still ahead in the unacked set."""
    queued = sorted(
        (c for c in candidates if c.where == "queue" and kinds.get(c.task_id) in PLAIN_KINDS),
        key=lambda c: c.task_id,
    )
    held = sorted(
        (
            c
            for c in candidates
            if c.where == "unacked"
            and kinds.get(c.task_id) in HELD_KINDS
            and c.eta is not None
            and c.eta > now + ETA_MARGIN_S
        ),
        key=lambda c: c.task_id,
    )
    from_queues = rng.sample(queued, min(len(queued), max(0, quotas[0])))
    from_held = rng.sample(held, min(len(held), max(0, quotas[1])))
    seen: set[str] = set()
    out = []
    for c in [*from_queues, *from_held]:  # one message per task (a retried publish is two)
        if c.task_id not in seen:
            seen.add(c.task_id)
            out.append(c)
    return out


def delete(client: Any, chosen: list[Candidate]) -> list[Candidate]:
    """Delete each chosen message; those really deleted (a worker may have taken one, or
    acknowledged it, since the scan)."""
    deleted = []
    for c in chosen:
        if c.where == "queue":
            gone = client.lrem(c.key, 1, c.raw)
        else:
            pipe = client.pipeline(transaction=True)
            pipe.hdel(UNACKED, c.key)
            pipe.zrem(UNACKED_INDEX, c.key)
            gone = pipe.execute()[0]
        if gone:
            deleted.append(c)
    return deleted


def inject(
    client: Any,
    kinds: Callable[[], Mapping[str, str]],
    n: int,
    rng: random.Random,
    now: Callable[[], float],
    wait: Callable[[float], bool],
    attempts: int = ATTEMPTS,
) -> dict[str, Any]:
    """Delete ``n`` messages: one in ``UNACKED_SHARE`` from the unacked set, the rest from
    the queues, scanning again every 0.5 s (``attempts`` times at most) while fewer were
    found; a countdown job is in the unacked set only once a worker took it, after the
    backlog ahead of it, and the last scan fills what the unacked set did not give from
    the queues. A scan that finds Redis down (its restart overlaps) is tried again at the
    next attempt. The evidence: how many from where, and which task ids. ``kinds()`` is
    what the producers published so far (task id -> plan kind); ``wait`` returns True
    when the run is stopped."""
    want_held = n // UNACKED_SHARE
    deleted: list[Candidate] = []
    unreachable = 0
    for attempt in range(attempts):
        done = {c.task_id for c in deleted}
        held = sum(1 for c in deleted if c.where == "unacked")
        last = attempt == attempts - 1
        quotas = (n - want_held - (len(deleted) - held), want_held - held)
        if last:  # what the unacked set did not give, from the queues
            quotas = (n - len(deleted), quotas[1])
        try:
            fresh = [c for c in scan(client) if c.task_id not in done]
            deleted += delete(client, choose(fresh, kinds(), quotas, rng, now()))
        except (RedisConnectionError, RedisTimeoutError):
            unreachable += 1  # Redis restarting (its own fault overlaps): scan again
        if len(deleted) >= n or wait(0.5):
            break
    queues = [c.task_id for c in deleted if c.where == "queue"]
    unacked = [c.task_id for c in deleted if c.where == "unacked"]
    return {
        "planned": n,
        "deleted": len(deleted),
        "from_queues": len(queues),
        "from_unacked": len(unacked),
        "task_ids": {"queues": queues, "unacked": unacked},
        **({"scans_redis_unreachable": unreachable} if unreachable else {}),
    }


def seeded_count(rng: random.Random, scale: float) -> int:
    """How many messages to delete: 20-40, times the run's fault scale (at least 5)."""
    return max(5, round(rng.randint(20, 40) * scale))
