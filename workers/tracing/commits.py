"""The recorder's commit of each transition, as a span in the task's own trace.

A batch commits up to hundreds of transitions of as many tasks. Each traced transition
(its wire event carries ``tp``, the traceparent of the message that caused it) gets a
``record <status>`` span in its task's trace, timed as the batch's commit and linked to
one ``record batch`` span (a root: it belongs to no single task). Untraced entries cost
a substring test each; with tracing off the recorder does not call this at all.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from workers.tracing import state
from workers.tracing.context import HEADER, traceparent

logger = logging.getLogger(__name__)
_W3C = TraceContextTextMapPropagator()
_MARK = b'"tp":'


def record_commit(entries: list[tuple[bytes, dict[bytes, Any]]], started_ns: int) -> None:
    """Spans for ``entries``, whose batch was committed between ``started_ns`` and now."""
    try:
        _spans(entries, started_ns)
    except Exception:  # never stop the recorder for a span
        logger.exception("could not trace a recorder commit")


def _spans(entries: list[tuple[bytes, dict[bytes, Any]]], started_ns: int) -> None:
    traced = list(_traced_events(entries))
    if not traced:
        return
    ended = time.time_ns()
    tracer = state.tracer()
    batch = tracer.start_span(
        "record batch",
        context=trace.set_span_in_context(trace.INVALID_SPAN),  # a root
        attributes={"agentq.entries": len(entries), "agentq.traced_transitions": len(traced)},
        start_time=started_ns,
    )
    batch.end(end_time=ended)
    link = [Link(batch.get_span_context())]
    for tp, ev in traced:
        span = tracer.start_span(
            f"record {ev.get('s')}",
            context=_W3C.extract({HEADER: tp}),
            links=link,
            attributes={
                "agentq.task_id": str(ev.get("t")),
                "agentq.status": str(ev.get("s")),
                "agentq.attempt": ev.get("a") if isinstance(ev.get("a"), int) else -1,
                "agentq.agent_type": str(ev.get("ag")),
            },
            start_time=started_ns,
        )
        span.end(end_time=ended)


def _traced_events(entries: list[tuple[bytes, dict[bytes, Any]]]) -> Any:
    for _, fields in entries:
        payload = fields.get(b"e")
        if not isinstance(payload, bytes) or _MARK not in payload:
            continue
        try:
            events = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue  # a bad entry: the recorder dead-letters it; nothing to trace
        for ev in events if isinstance(events, list) else ():
            tp = traceparent(ev.get("tp")) if isinstance(ev, dict) else None
            if tp is not None:
                yield tp, ev
