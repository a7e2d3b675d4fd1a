"""One task id, one agent type (issue 20, item 8): ``enqueue(..., task_id=)`` refuses an
id another agent type already used, and publishes nothing; the same agent type again
is a producer's retry and goes through (``tests/e2e/test_republish_same_id.py`` runs
both copies). Real Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from tasks.registry import get_spec
from tasks.validation import InvalidAgentInput
from workers.producer import enqueue
from workers.task_id_claims import CLAIM_PREFIX, CLAIM_SECONDS


def _waiting(client: redis.Redis, queue: str) -> int:
    keys = [k for k in client.keys(f"{queue}*") if client.type(k) == b"list"]
    keys = [k for k in keys if not k.endswith(b":bell")]  # the wake-up lists
    return sum(int(client.llen(k)) for k in keys)


def _enqueue(agent_type: str, task_id: str) -> str:
    spec = get_spec(agent_type)
    return enqueue(agent_type, spec.example_task_type, spec.example, task_id=task_id)


def test_an_id_used_by_another_agent_type_is_refused(clean: str, redis_client: redis.Redis) -> None:
    task_id = str(uuid.uuid4())
    assert _enqueue("quiz_generator", task_id) == task_id
    with pytest.raises(InvalidAgentInput) as refused:
        _enqueue("code_reviewer", task_id)
    assert str(refused.value) == (
        f"task_id '{task_id}' is already the id of a quiz_generator task: a task id names "
        "one task, so a code_reviewer task needs another one"
    )
    assert _waiting(redis_client, "code_reviewer") == 0  # nothing published
    # The same agent type again is a retry of the publish: accepted.
    assert _enqueue("quiz_generator", task_id) == task_id
    assert _waiting(redis_client, "quiz_generator") == 2
    assert redis_client.get(CLAIM_PREFIX + task_id) == b"quiz_generator"
    assert 0 < int(redis_client.ttl(CLAIM_PREFIX + task_id)) <= CLAIM_SECONDS


def test_ids_enqueue_makes_itself_are_not_claimed(clean: str, redis_client: redis.Redis) -> None:
    spec = get_spec("quiz_generator")
    task_id = enqueue("quiz_generator", spec.example_task_type, spec.example)
    assert redis_client.exists(CLAIM_PREFIX + task_id) == 0
