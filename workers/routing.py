"""Names: one queue per agent type, one Celery task per agent type.

Task names are ``agents.<agent_type>`` (tests add variants ``agents.<agent_type>.<name>``);
hooks read the agent type from the name, which costs nothing on the hot path.
"""

from __future__ import annotations

from kombu import Queue

from persistence.schema import AGENT_TYPE_VALUES as AGENT_TYPES
from tasks.celery_tasks import TASK_PREFIX

# task_priority names → Celery message priority. With Redis (priority_steps 0..9)
# a lower number is served first; "normal" is the default for messages without one.
PRIORITIES: dict[str, int] = {"critical": 0, "urgent": 2, "high": 4, "normal": 5, "low": 8}
PRIORITY_NAMES: dict[int, str] = {v: k for k, v in PRIORITIES.items()}


def task_name(agent_type: str) -> str:
    return TASK_PREFIX + agent_type


def queue_name(agent_type: str) -> str:
    return agent_type


def agent_type_of(task_name: str) -> str | None:
    """The agent type a task name belongs to, or None for other tasks (beat, celery.*)."""
    if not task_name.startswith(TASK_PREFIX):
        return None
    return task_name[len(TASK_PREFIX) :].split(".", 1)[0]


def priority_name(priority: int | None) -> str:
    if priority is None:
        return "normal"
    return PRIORITY_NAMES.get(priority) or min(
        PRIORITIES, key=lambda name: abs(PRIORITIES[name] - priority)
    )


# Beat's housekeeping tasks (metrics, health, reaper, retention, reconcile) have their own
# queue, so that a burst of agent work never delays them; every worker consumes it by
# default, and it comes first: with queue_order_strategy "priority" a worker takes its
# queues in this order within each priority step, so behind the agent queues a beat task
# waited out any backlog of equal priority (the soak saw one beat task in three minutes).
BEAT_QUEUE = "agentq.beat"
BEAT_PREFIX = "agentq.beat."


def agent_queues() -> list[Queue]:
    queues = [Queue(queue_name(a), routing_key=queue_name(a)) for a in AGENT_TYPES]
    return [Queue(BEAT_QUEUE, routing_key=BEAT_QUEUE), *queues]


def route_task(
    name: str, args: object, kwargs: object, options: object, **_: object
) -> dict | None:
    """Celery router: every agent task goes to its agent type's queue."""
    if name.startswith(BEAT_PREFIX):
        return {"queue": BEAT_QUEUE}
    agent_type = agent_type_of(name)
    return {"queue": queue_name(agent_type)} if agent_type else None
