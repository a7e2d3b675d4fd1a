"""Celery configuration, built from the environment (``workers.settings``).

Loaded lazily by ``app.config_from_object`` the first time Celery needs its
configuration, so importing ``workers.app`` connects to nothing.
"""

from __future__ import annotations

from typing import Any

from workers.broker.redis_transport import install as install_redis_transport
from workers.routing import PRIORITIES, agent_queues, route_task
from workers.settings import get_settings

_s = get_settings()


def _load_beat_schedule() -> dict[str, Any]:
    from beat_schedule import build_schedule

    return build_schedule(_s)


broker_url = _s.broker_url
# A message that cannot become a task is set aside in the dead letters, never allowed to
# end the worker: the consumer checks every message (workers/broker/consumer.py) and, on
# Redis, the transport guards the envelope (workers/broker/redis_transport.py).
worker_consumer = "workers.broker.consumer:Consumer"
install_redis_transport()
# Results live in agent_executions; Celery's result backend stays off.
result_backend = None
task_ignore_result = True

# JSON only: a message is data, never code.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
event_serializer = "json"

# A task is acknowledged after it ran, and requeued when its process dies under it.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = _s.prefetch_multiplier
# Not a Celery setting: the agents' retry backoff cap, read by tasks.base.AgentTask.
agentq_retry_backoff_max = _s.retry_backoff_max
broker_connection_retry_on_startup = True
broker_transport_options = {
    # Unacked messages of a worker that died come back after this long (Redis).
    "visibility_timeout": _s.visibility_timeout,
    # Scan for unacked messages of dead workers every 10 s (kombu's default scans
    # every 10th tick, ~100 s, on top of the visibility timeout).
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    "priority_steps": list(range(10)),
    "sep": ":",
    "queue_order_strategy": "priority",
}
task_default_priority = PRIORITIES["normal"]

# Task events are for Flower and `celery events` only (the record in agent_executions
# holds every transition without them) and add about half to a bare task's CPU: off
# unless AGENTQ_TASK_EVENTS=true. Flower switches them on in running workers itself (it
# broadcasts enable_events every few seconds); only the producers' task-sent event needs
# the setting (docs/operations.md#flower).
worker_send_task_events = _s.task_events
task_send_sent_event = _s.task_events

task_queues = agent_queues()
task_default_queue = "default"
task_create_missing_queues = True
task_routes = (route_task,)

timezone = "UTC"
enable_utc = True
worker_hijack_root_logger = True

# celery beat: declarations live in beat_schedule.py at the top of the repo.
beat_schedule = _load_beat_schedule()
