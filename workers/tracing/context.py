"""The W3C ``traceparent`` a message carries, checked before the record trusts it.

Any publisher can put any header on a message. A value that is not a well-formed
traceparent is ignored (the task is recorded without a trace id): stored as is, it would
break the column's CHECK and cost its whole entry. No OpenTelemetry import: the
recording hooks call this on every transition, tracing on or off.
"""

from __future__ import annotations

import re
from typing import Any

HEADER = "traceparent"
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32


def traceparent(value: Any) -> str | None:
    """``value`` when it is a valid version-00 traceparent (non-zero trace id), else None."""
    if not isinstance(value, str):
        return None
    m = _TRACEPARENT.fullmatch(value)
    if m is None or m[1] == _ZERO_TRACE or m[2] == "0" * 16:
        return None
    return value


def trace_id(tp: str) -> str:
    """The trace id (32 lowercase hex digits) of a valid traceparent."""
    return tp[3:35]
