"""Celery's task events are off by default and recording never needs them; the setting
turns them on (issue 21: they add about half to a bare task's CPU and only Flower reads
them). A real worker, a real subscriber on the broker's event channel."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from bench.recording.watch import EventCounter, task_event_count
from tests.e2e.conftest import send_test_task, wait_terminal
from tests.support.workers import WorkerProcess, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.mark.parametrize("events", [False, True], ids=["default", "AGENTQ_TASK_EVENTS=true"])
def test_task_events_follow_the_setting_and_recording_does_not_need_them(
    clean: str, redis_client: Any, events: bool
) -> None:
    env = {"AGENTQ_TASK_EVENTS": "true"} if events else {}
    counter = EventCounter(redis_client)
    try:
        with WorkerProcess("events", env=env) as worker:
            # The worker is heard (its heartbeat) before the task: the counter listens.
            wait_for(lambda: counter.counts["worker-heartbeat"] >= 1, 30, what="a heartbeat")
            task_id = send_test_task("noop")
            record = wait_terminal(task_id)
            assert record["status"] == "completed"  # recorded, events or not
            if events:
                wait_for(lambda: counter.counts["task-succeeded"] >= 1, 30, what="task events")
            else:  # a heartbeat after the task: anything sent for it has arrived by then
                beats = counter.counts["worker-heartbeat"]
                wait_for(lambda: counter.counts["worker-heartbeat"] > beats, 30, what="a beat")
            assert worker.hostname
    finally:
        counts = counter.stop()
    if events:
        assert {"task-received", "task-started", "task-succeeded"} <= set(counts), counts
    else:
        assert task_event_count(counts) == 0, counts


def test_the_producers_sent_event_only_where_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers import celeryconfig
    from workers.settings import get_settings

    try:
        get_settings.cache_clear()
        config = importlib.reload(celeryconfig)
        assert (config.worker_send_task_events, config.task_send_sent_event) == (False, False)
        monkeypatch.setenv("AGENTQ_TASK_EVENTS", "true")
        get_settings.cache_clear()
        config = importlib.reload(celeryconfig)
        assert (config.worker_send_task_events, config.task_send_sent_event) == (True, True)
    finally:
        monkeypatch.delenv("AGENTQ_TASK_EVENTS", raising=False)
        get_settings.cache_clear()
        importlib.reload(celeryconfig)
