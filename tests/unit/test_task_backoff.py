"""AgentTask.backoff: full-jitter exponential backoff, fractional factors included."""

from __future__ import annotations

from typing import Any

from celery import Celery

from tasks.base import AgentTask


class _Task(AgentTask):
    retry_backoff_factor = 0.5
    retry_backoff_max = 3.0


def _noop(self: Any) -> None:
    return None


def test_backoff_is_jittered_under_an_exponential_ceiling() -> None:
    app = Celery("backoff-test", set_as_current=False)
    task = app.task(bind=True, base=_Task, name="agents.test.backoff")(_noop)
    for retries, ceiling in ((0, 0.5), (1, 1.0), (2, 2.0), (3, 3.0), (10, 3.0)):
        task.push_request(retries=retries)
        try:
            waits = [task.backoff() for _ in range(200)]
        finally:
            task.pop_request()
        assert all(0.0 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 100  # jittered, not a constant
        assert max(waits) > ceiling / 2


class _Configured(AgentTask):
    retry_backoff_factor = 10.0  # retry_backoff_max: from the app's configuration


def test_the_cap_comes_from_agentq_retry_backoff_max() -> None:
    """AGENTQ_RETRY_BACKOFF_MAX reaches the task through the app's configuration
    (workers/celeryconfig.py sets agentq_retry_backoff_max from it)."""
    app = Celery("backoff-conf", set_as_current=False)
    app.conf.agentq_retry_backoff_max = 4
    task = app.task(bind=True, base=_Configured, name="agents.test.conf")(_noop)
    task.push_request(retries=5)  # 10 * 2**5 = 320 s uncapped
    try:
        waits = [task.backoff() for _ in range(300)]
    finally:
        task.pop_request()
    assert max(waits) <= 4.0 and max(waits) > 2.0
    default = Celery("backoff-default", set_as_current=False)
    plain = default.task(bind=True, base=_Configured, name="agents.test.default")(_noop)
    plain.push_request(retries=10)
    try:
        assert max(plain.backoff() for _ in range(300)) > 300  # the 600 s default cap
    finally:
        plain.pop_request()


def test_the_worker_configuration_carries_the_setting(monkeypatch: Any) -> None:
    import importlib

    from workers import celeryconfig
    from workers.settings import get_settings

    monkeypatch.setenv("AGENTQ_RETRY_BACKOFF_MAX", "42")
    get_settings.cache_clear()
    try:
        assert importlib.reload(celeryconfig).agentq_retry_backoff_max == 42
    finally:
        monkeypatch.delenv("AGENTQ_RETRY_BACKOFF_MAX")
        get_settings.cache_clear()
        importlib.reload(celeryconfig)
