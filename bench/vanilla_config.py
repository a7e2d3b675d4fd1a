"""Celery configuration of the vanilla anchors (v) and (f) of ``bench_recording``.

Only what a Celery user sets for this workload: the broker URL, JSON, late acks that
requeue a task whose process died, no results; and the same queues and routes as the
product so that the same messages travel the same way. ``BENCH_TASK_EVENTS=true`` is (f):
``worker_send_task_events`` and ``task_send_sent_event``, what a Flower user runs.
Everything else is Celery's and kombu's default.
"""

from __future__ import annotations

import os

from workers.routing import agent_queues, route_task

broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
task_serializer = "json"
accept_content = ["json"]
task_acks_late = True
task_reject_on_worker_lost = True
task_ignore_result = True

task_queues = agent_queues()
task_routes = (route_task,)

_events = os.environ.get("BENCH_TASK_EVENTS", "false").lower() == "true"
worker_send_task_events = _events
task_send_sent_event = _events
