"""A task id names one task of one agent type: ``enqueue(..., task_id=)`` refuses an id
already used by another agent type.

``task_id`` exists so that a producer that did not learn whether its publish went
through can publish again under the same id (one row, both runs in its history). The
same id for another agent type is not a retry: both tasks used to run, and the record,
keyed by the task id, kept only the second one's input. So the first enqueue of an
explicit id claims it in Redis (the recording Redis) for :data:`CLAIM_SECONDS`, a day:
``SET agentq:task-ids:<id> <agent type> NX EX 86400``; an enqueue whose claim finds another
agent type is refused, naming it. One round trip, only for explicit ids (the UUIDs
``enqueue`` makes itself are not claimed), and no database: enqueue never waits for it.
What it does not see: the same id for another type more than a day later (the record
then merges both, as before), raw messages that pass no producer. With Redis
unreachable the claim is skipped with a warning (the publish itself will likely fail).
"""

from __future__ import annotations

import logging
import os

import redis

from tasks.validation import InvalidAgentInput, brief

logger = logging.getLogger(__name__)

CLAIM_PREFIX = "agentq:task-ids:"
CLAIM_SECONDS = 24 * 3600

_clients: dict[tuple[int, str], redis.Redis] = {}  # (pid, url): a pool per process


def _client(url: str) -> redis.Redis:
    key = (os.getpid(), url)
    if key not in _clients:
        _clients.clear()  # another process's (forked) or another URL's: not ours to use
        _clients[key] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _clients[key]


def claim(task_id: str, agent_type: str) -> None:
    """Claim ``task_id`` for ``agent_type``; :class:`InvalidAgentInput` when another
    agent type holds it."""
    from workers.settings import get_settings

    holder = _claim_in_redis(get_settings().recorder_redis_url, task_id, agent_type)
    if holder is not None and holder != agent_type:
        raise InvalidAgentInput(
            f"task_id {brief(task_id)} is already the id of a {holder} task: a task id names "
            f"one task, so a {agent_type} task needs another one"
        )


def _claim_in_redis(url: str, task_id: str, agent_type: str) -> str | None:
    """The agent type that held the claim already, or None (claimed now, or Redis away)."""
    client = _client(url)
    try:
        pipe = client.pipeline(transaction=False)
        key = CLAIM_PREFIX + task_id
        pipe.set(key, agent_type, nx=True, ex=CLAIM_SECONDS)
        pipe.get(key)
        created, held = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("task id claim skipped (%s): enqueue goes on", exc)
        return None
    if created or held is None:
        return None
    return str(held.decode() if isinstance(held, bytes) else held)
