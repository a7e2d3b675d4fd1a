"""Tracing's switch (``workers/tracing/setup.py``) and what the recording hooks take from a
message's ``traceparent`` header (``workers/tracing/context.py``), on kombu's in-memory
broker with Celery's own publish and run paths (the hooks' tests' helpers,
tests/support/signal_hooks.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import signals as celery_signals
from kombu import Connection
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import signal_hooks as hook_tests
from tests.support.signal_hooks import CapturingSink, publish_test_task, run_in_pool_child, take
from workers.tracing import hooks, state
from workers.tracing import setup as tracing
from workers.tracing.context import traceparent

# the hooks' tests' fixtures: a capturing sink, kombu's in-memory broker
sink = hook_tests.sink
broker = hook_tests.broker
GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_SERVICE_NAME": "agentq"}, False),  # a name alone exports nothing
    ],
)
def test_tracing_is_on_only_when_configured(env: dict[str, str], on: bool) -> None:
    assert tracing.configured(env) is on


def test_an_unknown_exporter_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER: unknown exporter 'jaeger'"):
        tracing.provider_from_env({"OTEL_TRACES_EXPORTER": "otlp,jaeger"})


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (GOOD, True),
        (GOOD.upper(), False),  # W3C: lowercase hex only
        ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", False),  # zero trace id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01", False),  # zero span id
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),  # other version
        (GOOD + "-extra", False),
        ("garbage", False),
        (None, False),
        (12345, False),
    ],
)
def test_only_a_well_formed_traceparent_is_trusted(value: object, valid: bool) -> None:
    assert traceparent(value) == (value if valid else None)


def test_a_traced_message_carries_its_trace_to_every_transition(
    sink: CapturingSink, broker: Connection
) -> None:
    task_id = publish_test_task("noop", headers={"traceparent": GOOD})
    run_in_pool_child(take(broker))
    pending, queued, running, completed = sink.events
    assert pending["rq"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert [e["tp"] for e in (pending, queued, running, completed)] == [GOOD] * 4
    assert {e["t"] for e in sink.events} == {task_id}


def test_a_bad_traceparent_is_ignored_and_the_task_recorded(
    sink: CapturingSink, broker: Connection
) -> None:
    publish_test_task("noop", headers={"traceparent": "00-NOT-HEX"})
    run_in_pool_child(take(broker))
    assert [e["s"] for e in sink.events] == ["pending", "queued", "running", "completed"]
    assert all("tp" not in e for e in sink.events)
    assert "trace_id" not in sink.events[0]["rq"]


@pytest.fixture
def memory() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()


def test_off_means_no_hook_connected_and_no_header(sink: CapturingSink, broker: Connection) -> None:
    assert not state.enabled()
    receivers = [r[1]() for r in celery_signals.before_task_publish.receivers]
    assert hooks.on_before_publish not in receivers
    publish_test_task("noop")
    assert "traceparent" not in take(broker).request_dict
    assert all("tp" not in e for e in sink.events)


def test_on_the_publish_and_the_run_are_spans_of_one_trace(
    sink: CapturingSink, broker: Connection, memory: InMemorySpanExporter
) -> None:
    task_id = publish_test_task("noop")
    run_in_pool_child(take(broker))
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert set(spans) == {
        "enqueue content_generator",
        "queued content_generator",
        "run content_generator",
    }
    enqueue = spans["enqueue content_generator"]
    assert enqueue.context is not None and enqueue.parent is None
    for name in ("queued content_generator", "run content_generator"):
        span = spans[name]
        assert span.parent is not None and span.parent.span_id == enqueue.context.span_id
        assert span.attributes is not None and span.attributes["agentq.task_id"] == task_id
    trace_id = format(enqueue.context.trace_id, "032x")
    assert sink.events[0]["rq"]["trace_id"] == trace_id
