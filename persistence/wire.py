"""The wire format of lifecycle events: compact JSON, one list of events per stream entry.

Hooks write it (``workers/recording/signals.py`` builds the dicts with :func:`transition`
and :func:`instance`, without any objects: they run on the hot path), the recorder passes
it to the store as is, and PostgreSQL reads it in ``agentq_record_batch()``
(``persistence/sql/current/functions.sql``, its current definition). The keys are short
because every task writes four events:

======  ===========================================================
``k``   kind: ``"t"`` a transition, ``"i"`` a worker's instance event
``id``  the event's own id (uuid, hex), the history's dedup key
``t``   task id
``s``   status (``task_status``)
``a``   attempt (``request.retries``)
``at``  when, seconds since the epoch (float)
``ag``  agent type; ``tt`` task type; ``w`` worker hostname
``rq``  the enqueue request (pending): input_data, user_id, session_id, priority, max_retries
``rs``  the result (terminal / retrying): output_data, quality_score,
        execution_time_seconds, error_message, error_type, traceback
``tp``  the W3C traceparent of the message that caused it (only when the task is
        traced): the recorder's commit span joins that trace; the store ignores it
        (the trace id it keeps is ``rq.trace_id``, revision 0011)
======  ===========================================================

Two readers, one writer
-----------------------
The recorder's fast path hands entries to PostgreSQL undecoded; only a batch the
database rejects goes through :func:`decode_entry` (the in-memory store uses the same
checks), which *checks* every field instead of coercing it: an event that fails raises
:class:`BadEvent` naming the field, and its entry goes to the dead letters. The bounds
are the constants below (``MIN_AT`` .. now + ``MAX_AT_AHEAD_S``, ``MAX_ATTEMPT``, the
``MAX_*_CHARS`` lengths, ``MAX_DEPTH``); strings anywhere (``rq`` / ``rs`` keys and
values included) hold neither NUL nor a lone surrogate, which PostgreSQL cannot store.

PostgreSQL accepts a little more than the strict decoder, so an odd entry that arrives
in a good batch is recorded while the same entry in a rejected batch is dead-lettered.
Everything it accepts is stored as plain values and reads back: numbers or strings it
converts (``"a": "2"``, ``"at": "1700000000"``, ``"t": 5`` stored as ``'5'``), UUID
spellings it knows (braces, upper case), any ``k``, ``rq`` / ``rs`` that are not objects
(jsonb; their fields read as NULL), numbers in them beyond a double (jsonb's numeric;
Python reads them as inf), strings longer than our bounds (up to the btree limit, then
it rejects the batch). The one thing it would store but could not read back, a time
outside Python's years 1..9999, it never sees: ``SQLStore.record_wire`` checks
every ``at`` against :func:`at_bounds` in the same statement. Both refuse unknown
statuses and agent types, NUL (``\\u0000``), lone surrogates and fractional attempts;
only PostgreSQL checks what is inside ``rq`` / ``rs`` (a quality score outside [0, 1], a
user_id that is not a UUID): the recorder dead-letters such an entry as "rejected by the
database".
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from persistence import task_ids
from persistence.lifecycle import TaskStatus, Transition
from persistence.schema import AGENT_STATUS_VALUES, AGENT_TYPE_VALUES

KIND_TRANSITION = "t"
KIND_INSTANCE = "i"

# --- what the strict decoder accepts ----------------------------------------------------
# 2000-01-01T00:00:00Z: nothing this system records is older; 0 or a small number is a
# unit or clock bug, not a time.
MIN_AT = 946_684_800.0
# A clock five years ahead is broken. Far beyond it PostgreSQL would still store the time
# but Python (years 1..9999) could not read it back.
MAX_AT_AHEAD_YEARS = 5
MAX_AT_AHEAD_S = MAX_AT_AHEAD_YEARS * 366 * 86_400.0
MAX_ATTEMPT = 10_000  # request.retries: max_retries is single digits in practice
MAX_TASK_ID_CHARS = task_ids.MAX_TASK_ID_CHARS  # the one rule: persistence/task_ids.py
MAX_TASK_TYPE_CHARS = 255
MAX_WORKER_CHARS = 512  # "name@host": a fully qualified host name alone may have 253
MAX_DEPTH = 32  # nested objects / lists, rq / rs included (input and output are plain records)
MAX_INSTANCE_TYPES = 64  # agent types one instance event may name (there are 8)
_SHOW_CHARS = 40  # of a bad value, in an error message

_UUID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_TASK_STATUSES = frozenset(s.value for s in TaskStatus)
_AGENT_TYPES = frozenset(AGENT_TYPE_VALUES)
_AGENT_STATUSES = frozenset(AGENT_STATUS_VALUES)
_INT64_MIN, _UINT64_END = -(2**63), 2**64  # what orjson can write back

T = TypeVar("T")


class BadEvent(ValueError):
    """An event or stream entry that cannot be decoded; it goes to the dead letters."""


@dataclass(frozen=True, slots=True)
class InstanceEvent:
    """A worker's own lifecycle for the agent types it serves (``k`` = ``"i"``)."""

    worker: str
    agent_types: tuple[str, ...]
    status: str
    at: datetime


def at_bounds() -> tuple[float, float]:
    """The times (seconds since the epoch) an event may carry: ``MIN_AT`` .. now + 5 years."""
    return MIN_AT, time.time() + MAX_AT_AHEAD_S


def encode(events: Iterable[dict[str, Any]]) -> bytes:
    # orjson: about 5x cheaper than json.dumps, and hooks run this for every transition.
    return orjson.dumps(list(events), default=str)


def decode(payload: bytes | str) -> list[dict[str, Any]]:
    """The events of one stream entry; :class:`BadEvent` when it is not a JSON list."""
    try:
        events = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BadEvent(f"not JSON: {exc}") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise BadEvent("expected a JSON list of event objects")
    return events


def transition(
    event_id: str,
    task_id: str,
    status: str,
    attempt: int,
    at: float,
    agent_type: str,
    task_type: str,
    worker: str | None = None,
    request: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
    trace: str | None = None,
) -> dict[str, Any]:
    """One transition event, built from plain values: hooks call this on the hot path."""
    ev: dict[str, Any] = {
        "k": KIND_TRANSITION,
        "id": event_id,
        "t": task_id,
        "s": status,
        "a": attempt,
        "at": at,
        "ag": agent_type,
        "tt": task_type,
    }
    if worker is not None:
        ev["w"] = worker
    if request is not None:
        ev["rq"] = request
    if result is not None:
        ev["rs"] = result
    if trace is not None:
        ev["tp"] = trace
    return ev


def instance(worker: str, agent_types: list[str], status: str, at: float) -> dict[str, Any]:
    """One worker's instance event (initializing / idle / offline of its agent types)."""
    return {"k": KIND_INSTANCE, "w": worker, "types": agent_types, "s": status, "at": at}


def to_wire(t: Transition) -> dict[str, Any]:
    return transition(
        t.event_id.hex,
        t.task_id,
        t.status.value,
        t.attempt,
        t.occurred_at.timestamp(),
        t.agent_type,
        t.task_type,
        worker=t.worker,
        request=t.request,
        result=t.result,
    )


def decode_entry(payload: bytes | str) -> list[Transition | InstanceEvent]:
    """The events of one stream entry, each checked field by field (module docstring);
    :class:`BadEvent` names the first thing wrong."""
    return [_event(ev) for ev in decode(payload)]


def _event(ev: dict[str, Any]) -> Transition | InstanceEvent:
    kind = ev.get("k", KIND_TRANSITION)
    if kind == KIND_TRANSITION:
        return from_wire(ev)
    if kind == KIND_INSTANCE:
        return instance_from_wire(ev)
    raise BadEvent(f"unknown event kind {_show(kind)}")


def from_wire(ev: dict[str, Any]) -> Transition:
    """A decoded transition event as a Transition; :class:`BadEvent` names the bad field."""
    if not isinstance(ev, dict):
        raise BadEvent(f"an event is not a JSON object: {_show(ev)}")
    k = "transition"
    return Transition(
        event_id=_field(ev, k, "id", _event_id),
        task_id=_field(ev, k, "t", _TASK_ID),
        status=_field(ev, k, "s", _task_status),
        attempt=_field(ev, k, "a", _attempt),
        occurred_at=_field(ev, k, "at", _time),
        agent_type=_field(ev, k, "ag", _agent_type),
        task_type=_field(ev, k, "tt", _TASK_TYPE),
        worker=_optional(ev, k, "w", _WORKER),
        request=_optional(ev, k, "rq", _json_object),
        result=_optional(ev, k, "rs", _json_object),
    )


def instance_from_wire(ev: dict[str, Any]) -> InstanceEvent:
    """A decoded instance event, checked; :class:`BadEvent` names the bad field."""
    k = "instance"
    return InstanceEvent(
        worker=_field(ev, k, "w", _WORKER),
        agent_types=_field(ev, k, "types", _agent_types),
        status=_field(ev, k, "s", _agent_status),
        at=_field(ev, k, "at", _time),
    )


# --- field checks: each returns the value or raises ValueError saying what is wrong ------
def _field(ev: dict[str, Any], kind: str, name: str, check: Callable[[Any], T]) -> T:
    if name not in ev:
        raise BadEvent(f"{kind} event lacks field {name!r}")
    return _checked(kind, name, check, ev[name])


def _optional(ev: dict[str, Any], kind: str, name: str, check: Callable[[Any], T]) -> T | None:
    value = ev.get(name)
    return None if value is None else _checked(kind, name, check, value)


def _checked(kind: str, name: str, check: Callable[[Any], T], value: Any) -> T:
    try:
        return check(value)
    except ValueError as exc:
        raise BadEvent(f"{kind} event has a bad value for {name!r}: {exc}") from None


def _show(value: Any) -> str:
    """A bad value in an error message: short, one line, printable (repr escapes)."""
    if isinstance(value, str):
        more = "..." if len(value) > _SHOW_CHARS else ""
        return repr(value[:_SHOW_CHARS]) + more
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int) and value.bit_length() <= 64:
        return repr(value)
    return f"a {type(value).__name__}"


def _event_id(value: Any) -> uuid.UUID:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise ValueError(f"{_show(value)}: badly formed hexadecimal UUID string")
    return uuid.UUID(value)


def _task_status(value: Any) -> TaskStatus:
    if not isinstance(value, str) or value not in _TASK_STATUSES:
        raise ValueError(f"{_show(value)} is not a task status")
    return TaskStatus(value)


def _agent_type(value: Any) -> str:
    if not isinstance(value, str) or value not in _AGENT_TYPES:
        raise ValueError(f"{_show(value)} is not an agent type")
    return value


def _agent_types(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_INSTANCE_TYPES:
        raise ValueError(f"expected a list of at most {MAX_INSTANCE_TYPES} agent types")
    return tuple(_agent_type(v) for v in value)


def _agent_status(value: Any) -> str:
    if not isinstance(value, str) or value not in _AGENT_STATUSES:
        raise ValueError(f"{_show(value)} is not an agent status")
    return value


def _attempt(value: Any) -> int:
    # type(), not isinstance(): True is an int and 1.0 is not one; both are bugs upstream.
    if type(value) is not int:
        raise ValueError(f"{_show(value)} is not an integer")
    if not 0 <= value < MAX_ATTEMPT:
        raise ValueError(f"{value} is not in [0, {MAX_ATTEMPT})")
    return value


def _time(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{_show(value)} is not a number of seconds since the epoch")
    low, high = at_bounds()
    if not low <= value <= high:  # NaN fails this too
        raise ValueError(
            f"{_show(value)} is not a time between 2000 and {MAX_AT_AHEAD_YEARS} years from now"
        )
    return datetime.fromtimestamp(value, UTC)


def _text(max_chars: int, *, empty: bool = True) -> Callable[[Any], str]:
    low = 0 if empty else 1

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{_show(value)} is not a string")
        if not low <= len(value) <= max_chars:
            raise ValueError(f"{len(value)} characters, expected {low}..{max_chars}")
        _storable(value)
        return value

    return check


def _storable(text: str) -> None:
    """PostgreSQL stores neither NUL nor a lone surrogate: it rejects the whole batch."""
    if "\x00" in text:
        raise ValueError(f"{_show(text)} contains a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{_show(text)} contains a lone surrogate") from None


def _TASK_ID(value: Any) -> str:  # a check, named like its siblings
    problem = task_ids.task_id_problem(value)
    if problem is not None:
        raise ValueError(f"{_show(value)} {problem}")
    return str(value)


_TASK_TYPE = _text(MAX_TASK_TYPE_CHARS)  # hooks write "" when a message names none
_WORKER = _text(MAX_WORKER_CHARS, empty=False)


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{_show(value)} is not an object")
    _json_value(value, 1)
    return value


def _json_value(value: Any, depth: int) -> None:
    """Plain JSON all the way down: storable strings, finite numbers, bounded nesting."""
    if isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, list):
            for item in value:
                _json_value(item, depth + 1)
            return
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"key {_show(key)} is not a string")
            _storable(key)
            _json_value(item, depth + 1)
    elif isinstance(value, str):
        _storable(value)
    else:
        _json_scalar(value)


def _json_scalar(value: Any) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, float) and math.isfinite(value):
        return
    if isinstance(value, int) and _INT64_MIN <= value < _UINT64_END:
        return
    raise ValueError(f"{_show(value)} is not a JSON value orjson can write")


def join_entries(payloads: Iterable[bytes]) -> bytes:
    """Several entries' JSON lists as one JSON list, without parsing them.

    :class:`BadEvent` when a payload is not bracketed like a list (an empty or short one
    would otherwise vanish from the batch unrecorded). A payload that only looks like a
    list makes the result invalid JSON: the database then rejects the batch and the
    recorder falls back to decoding entry by entry.
    """
    parts = []
    for payload in payloads:
        p = payload.strip()
        if not (p.startswith(b"[") and p.endswith(b"]")):
            raise BadEvent("an entry is not a JSON list")
        if len(p) > 2:
            parts.append(p[1:-1])
    return b"[" + b",".join(parts) + b"]"
