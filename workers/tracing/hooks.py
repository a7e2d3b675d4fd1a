"""The task's spans, from Celery's signals; connected only while tracing is on.

Publishing process (the web app's ``enqueue``, beat, a pool process calling ``retry()``):
``before_task_publish`` starts ``enqueue <agent_type>`` as a child of whatever span is
current (the previous attempt's run, for a retry; the caller's request, if it traces) and
writes its context into the message headers (``traceparent``, W3C) plus the publish time
(``agentq_published_ns``); ``after_task_publish`` ends it. A header Celery sends with the
message becomes an attribute of ``task.request`` in the worker: that is the carrier.

Pool process: ``task_prerun`` reads the context back and makes ``queued <agent_type>``
(publish → now) and ``run <agent_type>``, which stays current until ``task_postrun``,
so a retry's publish, and anything the agent traces itself, nest inside the run.

A handler never raises into Celery: tracing must not fail the work.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import signals
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from workers.routing import agent_type_of
from workers.tracing import state

logger = logging.getLogger(__name__)

PUBLISHED_HEADER = "agentq_published_ns"
_W3C = TraceContextTextMapPropagator()  # the wire format is W3C, whatever OTEL_PROPAGATORS says
_MAX_TRACKED = 10_000
# before_task_publish -> after_task_publish: the enqueue span of each publish in flight
_publishing: dict[tuple[str, int], Any] = {}


class _RequestGetter(Getter[Any]):
    """Reads the context from a task's request (its message headers are attributes)."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        value = getattr(carrier, key, None)
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Any) -> list[str]:
        return []


_GETTER = _RequestGetter()


def _attributes(task_id: str, agent_type: str, attempt: int) -> dict[str, Any]:
    return {
        "messaging.system": "celery",
        "messaging.message.id": task_id,
        "agentq.task_id": task_id,
        "agentq.agent_type": agent_type,
        "agentq.attempt": attempt,
    }


# --- publishing ---------------------------------------------------------------------
def on_before_publish(
    sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any
) -> None:
    agent_type = agent_type_of(sender or "")
    if agent_type is None or headers is None:
        return
    try:
        attempt = headers.get("retries") or 0
        attrs = _attributes(headers["id"], agent_type, attempt)
        attrs["messaging.destination.name"] = agent_type
        if headers.get("eta"):
            attrs["agentq.eta"] = str(headers["eta"])
        span = state.tracer().start_span(
            f"enqueue {agent_type}", kind=SpanKind.PRODUCER, attributes=attrs
        )
        _W3C.inject(headers, context=trace.set_span_in_context(span))
        headers[PUBLISHED_HEADER] = time.time_ns()
        if len(_publishing) > _MAX_TRACKED:  # publishes that failed never reach "after"
            _publishing.clear()
        _publishing[(headers["id"], attempt)] = span
    except Exception:
        logger.exception("could not start the enqueue span")


def on_after_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None or "id" not in headers:
        return
    span = _publishing.pop((headers["id"], headers.get("retries") or 0), None)
    if span is not None:
        span.end()


# --- the pool process running the task ------------------------------------------------
def on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    agent_type = agent_type_of(getattr(task, "name", "") or "")
    if agent_type is None or task_id is None:
        return
    try:
        req = task.request
        parent = _W3C.extract(req, getter=_GETTER)
        attrs = _attributes(task_id, agent_type, req.retries or 0)
        attrs["agentq.worker"] = req.hostname or ""
        tracer = state.tracer()
        published = getattr(req, PUBLISHED_HEADER, None)
        now = time.time_ns()
        if isinstance(published, int) and 0 < published <= now:
            queued = tracer.start_span(
                f"queued {agent_type}", context=parent, attributes=attrs, start_time=published
            )
            queued.end(end_time=now)
        run = tracer.start_span(
            f"run {agent_type}", context=parent, kind=SpanKind.CONSUMER, attributes=attrs
        )
        req.agentq_span = run
        req.agentq_span_token = otel_context.attach(trace.set_span_in_context(run))
    except Exception:
        logger.exception("could not start the run span")


def on_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    span = getattr(request, "agentq_span", None)
    if span is not None:
        span.set_attribute("agentq.outcome", "retrying")
        span.add_event("retry", {"reason": str(reason)[:500]})


def on_failure(sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    span = getattr(getattr(sender, "request", None), "agentq_span", None)
    if span is not None:
        span.set_attribute("agentq.outcome", "failed")
        if exception is not None:
            span.record_exception(exception)
        span.set_status(Status(StatusCode.ERROR, type(exception).__name__))


def on_postrun(task: Any = None, state: str | None = None, **_: Any) -> None:
    req: Any = getattr(task, "request", None)
    span = getattr(req, "agentq_span", None)
    if span is None:
        return
    try:
        if state == "SUCCESS":
            span.set_attribute("agentq.outcome", "completed")
        span.end()
        otel_context.detach(req.agentq_span_token)
    except Exception:
        logger.exception("could not end the run span")
    finally:
        req.agentq_span = None


def on_process_shutdown(**_: Any) -> None:
    state.flush()


_CONNECTIONS = (
    (signals.before_task_publish, on_before_publish),
    (signals.after_task_publish, on_after_publish),
    (signals.task_prerun, on_prerun),
    (signals.task_retry, on_retry),
    (signals.task_failure, on_failure),
    (signals.task_postrun, on_postrun),
    (signals.worker_process_shutdown, on_process_shutdown),
)


def connect() -> None:
    for signal, handler in _CONNECTIONS:
        signal.connect(handler, weak=False, dispatch_uid=f"agentq.tracing.{handler.__name__}")


def disconnect() -> None:
    for signal, handler in _CONNECTIONS:
        signal.disconnect(handler, dispatch_uid=f"agentq.tracing.{handler.__name__}")
