"""Traces (docs/observability.md#traces): one trace per task, from the publish in this
process through the queue and each attempt's run in a real worker to the recorder's
commit of each transition, and its id on the execution row.

* OTLP over HTTP: a real prefork worker subprocess exports (``OTEL_*`` variables) to a
  receiver in this test that decodes the protobuf export requests.
* The SDK's in-memory exporter: a real Celery worker in this process (solo pool, its
  embedded recorder too), so every span, the worker's included, is in one exporter.

This process publishes with tracing installed on an in-memory exporter, so its enqueue
spans (the parents of everything the worker does) are at hand.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.e2e.conftest import poll, send_test_task, wait_terminal
from tests.support.database import reset_recording
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.workers import WorkerProcess
from workers.app import app
from workers.recording import bootsteps
from workers.settings import get_settings
from workers.tracing import setup as tracing

pytestmark = pytest.mark.slow
AGENT = "content_generator"


@pytest.fixture
def exporter(database_url: str, redis_client: redis.Redis) -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, into memory; off again afterwards."""
    reset_recording(database_url, redis_client)
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.install(provider)
    try:
        yield memory
    finally:
        tracing.uninstall()


def _hex(n: int, width: int) -> str:
    return format(n, f"0{width}x")


def _ids(span: ReadableSpan) -> tuple[str, str, str]:
    ctx = span.get_span_context()
    assert ctx is not None
    parent = _hex(span.parent.span_id, 16) if span.parent is not None else ""
    return _hex(ctx.trace_id, 32), _hex(ctx.span_id, 16), parent


def _one(spans: list[Any], name: str, attempt: int) -> Any:
    found = [s for s in spans if s.name == name and s.attributes["agentq.attempt"] == attempt]
    assert len(found) == 1, f"{name} attempt {attempt}: {[s.name for s in spans]}"
    return found[0]


def test_otlp_export_from_a_worker_process(exporter: InMemorySpanExporter) -> None:
    with OtlpReceiver() as receiver:
        env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "agentq-worker-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        worker = WorkerProcess("traces-otlp", concurrency=1, env=env).start()
        try:
            task_id = send_test_task("flaky", {"fail_times": 1, "countdown": 0.1})
            rec = wait_terminal(task_id, n_events=6)
            assert rec["status"] == "completed"
            published = [s for s in exporter.get_finished_spans() if s.name == f"enqueue {AGENT}"]
            assert [s.attributes["agentq.task_id"] for s in published] == [task_id]
            trace_id, enqueue_id, _ = _ids(published[0])
            assert rec["trace_id"] == trace_id  # stored by the recorder, read by the API

            def worker_spans() -> list[ReceivedSpan] | None:
                spans = receiver.of_trace(trace_id)
                records = {
                    s.attributes.get("agentq.status") for s in spans if s.name.startswith("record ")
                }
                runs = [s for s in spans if s.name == f"run {AGENT}"]
                done = len(runs) == 2 and {"running", "retrying", "completed"} <= records
                return spans if done else None

            try:
                spans = poll(worker_spans, 60, "the worker spans at the receiver", 0.3)
            except AssertionError:
                print(
                    "RECEIVED",
                    receiver.requests,
                    [(s.name, s.trace_id == trace_id, s.attributes) for s in receiver.spans],
                )
                print(worker.log.read_text()[-3000:])
                raise
        finally:
            worker.stop()
    _check_status_shows(task_id, trace_id)
    assert {s.service for s in spans} == {"agentq-worker-under-test"}
    # attempt 0: queued and run are children of this process's enqueue span
    run0 = _one(spans, f"run {AGENT}", 0)
    assert _one(spans, f"queued {AGENT}", 0).parent_id == enqueue_id
    assert run0.parent_id == enqueue_id
    assert run0.attributes["agentq.task_id"] == task_id
    assert run0.attributes["agentq.outcome"] == "retrying"
    assert run0.attributes["agentq.worker"] == worker.hostname
    # the retry is published inside the run: same trace, and attempt 1 hangs below it
    retry = _one(spans, f"enqueue {AGENT}", 1)
    assert retry.parent_id == run0.span_id
    assert _one(spans, f"queued {AGENT}", 1).parent_id == retry.span_id
    run1 = _one(spans, f"run {AGENT}", 1)
    assert run1.parent_id == retry.span_id
    assert run1.attributes["agentq.outcome"] == "completed"
    # the recorder's commit of each transition, in the task's trace, linked to its batch
    records = [s for s in spans if s.name.startswith("record ")]
    for s in records:
        assert s.attributes["agentq.task_id"] == task_id
        assert s.parent_id in {enqueue_id, retry.span_id}
        assert len(s.links) == 1
    completed = next(s for s in records if s.attributes["agentq.status"] == "completed")
    assert completed.parent_id == retry.span_id and completed.attributes["agentq.attempt"] == 1


def _check_status_shows(task_id: str, trace_id: str) -> None:
    """``agentq status`` (a real CLI process) shows the trace id, with and without --json."""
    cli = [sys.executable, "-m", "workers.cli", "status", task_id]
    out = subprocess.run([*cli, "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["trace_id"] == trace_id
    out = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert re.search(rf"^\s+trace\s+{trace_id}$", out.stdout, re.M), out.stdout


def test_in_memory_spans_with_an_in_process_worker(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the embedded recorder as a thread of this process: its spans land in memory too
    monkeypatch.setenv("AGENTQ_RECORDER_PROCESS", "false")
    get_settings.cache_clear()
    try:
        task_id, rec, spans = _run_boom(exporter)
    finally:
        bootsteps._finish()  # start_worker's stop does not send worker_shutdown
        monkeypatch.undo()
        get_settings.cache_clear()
    _check_boom(exporter, task_id, rec, spans)


def _run_boom(exporter: InMemorySpanExporter) -> tuple[str, dict[str, Any], list[ReadableSpan]]:
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        task_id = send_test_task("boom")
        rec = wait_terminal(task_id, n_events=4)

        def finished() -> list[ReadableSpan] | None:
            spans = [
                s
                for s in exporter.get_finished_spans()
                if s.attributes and s.attributes.get("agentq.task_id") == task_id
            ]
            statuses = {
                s.attributes["agentq.status"] for s in spans if s.name.startswith("record ")
            }
            return spans if {"pending", "queued", "running", "failed"} <= statuses else None

        spans = poll(finished, 40, "the task's spans in memory", 0.2)
    return task_id, rec, spans


def _check_boom(
    exporter: InMemorySpanExporter, task_id: str, rec: dict[str, Any], spans: list[ReadableSpan]
) -> None:
    assert rec["status"] == "failed"
    enqueue = _one(spans, f"enqueue {AGENT}", 0)
    trace_id, enqueue_id, enqueue_parent = _ids(enqueue)
    assert enqueue_parent == ""  # nothing was current: the task's trace starts here
    assert rec["trace_id"] == trace_id
    assert {_ids(s)[0] for s in spans} == {trace_id}
    queued, run = _one(spans, f"queued {AGENT}", 0), _one(spans, f"run {AGENT}", 0)
    assert _ids(queued)[2] == enqueue_id and _ids(run)[2] == enqueue_id
    assert queued.start_time is not None and enqueue.start_time is not None
    assert queued.start_time >= enqueue.start_time  # the wait starts at the publish
    assert run.attributes is not None and run.attributes["agentq.outcome"] == "failed"
    assert run.status.status_code.name == "ERROR"
    assert [e.name for e in run.events] == ["exception"]
    batches = {
        s.context.span_id: s for s in exporter.get_finished_spans() if s.name == "record batch"
    }
    for s in spans:
        if s.name.startswith("record "):
            assert _ids(s)[2] == enqueue_id  # the messages' context: the one enqueue
            assert [ln.context.span_id for ln in s.links] == [
                b for b in batches if b == s.links[0].context.span_id
            ]
