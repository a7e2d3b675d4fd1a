"""The lifecycle hooks (``workers/recording/signals.py``) in the sink: one per process,
flushed at shutdown.

No Redis: the events go to tests/support/signal_hooks.py's ``CapturingSink``."""

from __future__ import annotations

import logging
import os
import time
from types import SimpleNamespace
from typing import Any

import pytest
from celery import signals as celery_signals
from kombu import Connection

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process too)
from tests.support.signal_hooks import (
    MAIN_HOST,
    CapturingSink,
    fresh_hook_state,
    publish_test_task,
    run_in_pool_child,
    take,
)
from workers.recording import bootsteps, hook_state, signals
from workers.settings import get_settings


@pytest.fixture
def sink_factory(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """get_sink() builds CapturingSinks: ``built`` says with what, ``at_exit`` what it
    registered with atexit (nothing really is)."""
    fresh_hook_state(monkeypatch)
    factory = SimpleNamespace(built=[], at_exit=[])

    def build(url: str, stream: str, spool_dir: Any, *, confirm: str) -> CapturingSink:
        factory.built.append(
            {"url": url, "stream": stream, "spool_dir": spool_dir, "confirm": confirm}
        )
        return CapturingSink()

    monkeypatch.setattr(hook_state, "EventSink", build)
    monkeypatch.setattr(hook_state, "atexit", SimpleNamespace(register=factory.at_exit.append))
    return factory


def test_each_process_builds_its_own_sink_once(sink_factory: SimpleNamespace) -> None:
    s = get_settings()
    first = signals.get_sink()
    assert signals.get_sink() is first
    assert sink_factory.built == [
        {
            "url": s.recorder_redis_url,
            "stream": s.events_stream,
            "spool_dir": s.spool_dir,
            "confirm": "deferred",  # a publisher does not wait for Redis's replies
        }
    ]
    # A producer, beat, a worker's main process: the last replies are read at exit.
    assert sink_factory.at_exit == [signals.state.flush]

    # After a fork, the parent's sink (its socket) is not this process's.
    signals.state.sink_pid = os.getpid() + 1
    second = signals.get_sink()
    assert second is not first and signals.get_sink() is second
    assert len(sink_factory.built) == 2
    assert sink_factory.at_exit == [signals.state.flush]  # pool children flush at their shutdown


def test_a_worker_waits_for_each_reply_unless_told_otherwise(
    sink_factory: SimpleNamespace, settings_env: pytest.MonkeyPatch
) -> None:
    celery_signals.worker_init.send(sender=None)  # inherited by the pool's children
    signals.get_sink()
    settings_env.setenv("AGENTQ_EVENTS_CONFIRM", "deferred")
    get_settings.cache_clear()
    signals.reset()
    signals.get_sink()
    assert [b["confirm"] for b in sink_factory.built] == ["final", "deferred"]


def test_with_recording_off_nothing_is_recorded(
    sink_factory: SimpleNamespace, settings_env: pytest.MonkeyPatch, broker: Connection
) -> None:
    settings_env.setenv("AGENTQ_RECORDING", "false")
    get_settings.cache_clear()
    assert signals.get_sink() is None
    publish_test_task("noop")
    assert run_in_pool_child(take(broker)) == {"output_data": {"ok": True}, "quality_score": 1.0}
    assert sink_factory.built == []


def test_a_sink_that_fails_never_fails_the_work(
    sink: CapturingSink,
    broker: Connection,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(evs: list[dict[str, Any]]) -> None:
        raise ConnectionError("redis is gone")

    monkeypatch.setattr(sink, "emit", refuse)
    with caplog.at_level(logging.ERROR, logger=signals.__name__):
        task_id = publish_test_task("noop")
        request = take(broker)
        returned = run_in_pool_child(request)
    assert request.id == task_id
    assert returned == {"output_data": {"ok": True}, "quality_score": 1.0}
    assert caplog.text.count("could not record lifecycle event") == 3  # publish, run, end


def test_a_pool_child_flushes_its_sink_as_it_exits(sink: CapturingSink) -> None:
    celery_signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert sink.calls == ["flush"]


def test_a_sink_inherited_from_the_parent_is_not_flushed(
    sink: CapturingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signals.state, "sink_pid", os.getpid() + 1)
    celery_signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert sink.calls == []


def test_a_failed_flush_is_logged_not_raised(
    sink: CapturingSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse() -> None:
        raise ConnectionError("redis is gone")

    monkeypatch.setattr(sink, "flush", refuse)
    with caplog.at_level(logging.ERROR, logger=signals.__name__):
        celery_signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert "could not flush lifecycle events" in caplog.text


def test_the_worker_goes_offline_then_flushes_at_shutdown(
    sink: CapturingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    types = ["content_generator", "quiz_generator"]
    monkeypatch.setattr(bootsteps, "_running", {"worker": (MAIN_HOST, types)})
    before = time.time()
    celery_signals.worker_shutdown.send(sender=None)

    [offline] = sink.events
    assert {k: v for k, v in offline.items() if k != "at"} == {
        "k": "i",
        "w": MAIN_HOST,
        "types": types,
        "s": "offline",
    }
    assert before <= offline["at"] <= time.time()
    assert sink.calls == ["emit", "flush"]  # in the stream before the recorder's last drain
    assert bootsteps._running == {}


def test_reset_closes_and_forgets_the_sink(sink: CapturingSink) -> None:
    signals.reset()
    assert sink.closed
    assert signals.state.sink_ is None and signals.state.disabled is None
