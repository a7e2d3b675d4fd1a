"""The declared shape of a whole broker message: what a worker accepts, nothing else.

One schema (msgspec ``Struct`` types, decoded in C: a few µs per message) of everything
kombu and Celery read of a task message, protocol 2:

* the Redis envelope (:class:`Envelope`): ``body`` (base64), ``content-type``,
  ``content-encoding``, ``headers``, ``properties``;
* its properties (:class:`Properties`) with ``delivery_tag`` and ``delivery_info``
  (``exchange``, ``routing_key``: kombu indexes both);
* the headers Celery reads (:class:`Headers`; ``celery/app/amqp.py`` writes them,
  ``celery/worker/request.py`` and ``strategy.py`` read them), each typed and bounded;
  the task ids (``id``, ``root_id``, ``parent_id``) follow the one rule of
  ``persistence/task_ids.py``; ``eta`` / ``expires`` must convert to UTC and back to
  any time zone (Celery converts them to the worker's zone; out of range it dropped
  the message with no trace);
* the body ``[args, kwargs, embed]`` (:data:`Body`); ``embed`` holds only the keys
  Celery puts there, its ``callbacks`` / ``errbacks`` / ``chain`` / ``chord`` are
  signatures (objects with a ``task`` name), so junk there cannot leave a row
  ``running`` after the task ran.

What a type cannot say is said in ``__post_init__`` (which msgspec reports with the path).
Nesting depth, NUL and 64-bit integers inside args / kwargs / embed are checked by
``workers/broker/message_check.py`` with the same rule as ``enqueue``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from persistence import task_ids

# Shorthands: bounded strings and numbers.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Short = Annotated[str, msgspec.Meta(max_length=1024)]
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Repr = Annotated[str, msgspec.Meta(max_length=65_536)]  # argsrepr / kwargsrepr
Count = Annotated[int, msgspec.Meta(ge=0, lt=10_000)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=366 * 86_400)]

MAX_RETRIES = 10_000
# eta / expires: after conversion to UTC, a day inside Python's years 1..9999, so
# converting to any zone (offsets are under a day) cannot overflow.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, tzinfo=UTC) - timedelta(days=1)

#: compressions a worker inflates (``workers/broker/inflate.py``), kombu's names
COMPRESSIONS = ("application/x-gzip", "application/x-bz2", "application/x-lzma")


def time_problem(value: str) -> str | None:
    """Why an ``eta`` / ``expires`` would fail in Celery (parse or zone conversion)."""
    try:
        when = datetime.fromisoformat(value)  # what celery.utils.iso8601 uses
        if when.tzinfo is None:  # Celery makes it aware in the worker's zone
            when = when.replace(tzinfo=UTC)
        utc = when.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        return f"is not an ISO 8601 time Celery can convert ({exc})"
    if not _EARLIEST <= utc <= _LATEST:
        return "is too close to year 1 or 9999 to convert to the worker's time zone"
    return None


def _check_id(name: str, value: str | None, *, required: bool = False) -> None:
    if value is None and not required:
        return
    problem = task_ids.task_id_problem(value)
    if problem is not None:
        raise ValueError(f"header {name!r} {task_ids.show(value)} is not a task id: it {problem}")


class Headers(msgspec.Struct):
    """Protocol 2 headers (``celery/app/amqp.py`` ``as_task_v2``). Other headers (stamps,
    tracing) pass as they are: Celery copies them into the request untouched."""

    task: Name
    id: str
    lang: Short | None = None
    shadow: Name | None = None
    eta: Short | None = None
    expires: Short | None = None
    group: Key | None = None
    group_index: Count | None = None
    retries: Count | None = None
    timelimit: tuple[Seconds | None, Seconds | None] | None = None
    root_id: str | None = None
    parent_id: str | None = None
    argsrepr: Repr | None = None
    kwargsrepr: Repr | None = None
    origin: Short | None = None
    ignore_result: bool | None = None
    replaced_task_nesting: Count | None = None
    stamped_headers: list[Short] | None = None
    stamps: dict[str, Any] | None = None
    compression: Short | None = None

    def __post_init__(self) -> None:
        if "\x00" in self.task:
            raise ValueError("header 'task' contains a NUL character")
        _check_id("id", self.id, required=True)
        _check_id("root_id", self.root_id)
        _check_id("parent_id", self.parent_id)
        for name in ("eta", "expires"):
            value = getattr(self, name)
            problem = value is not None and time_problem(value)
            if problem:
                raise ValueError(f"header {name!r} {value[:40]!r} {problem}")
        if self.compression is not None and self.compression not in COMPRESSIONS:
            raise ValueError(
                f"header 'compression' {self.compression[:40]!r} is not one of {COMPRESSIONS}"
            )


class DeliveryInfo(msgspec.Struct):
    exchange: Short
    routing_key: Key


class Properties(msgspec.Struct):
    delivery_tag: Key
    delivery_info: DeliveryInfo
    body_encoding: Short | None = None
    priority: Annotated[int, msgspec.Meta(ge=0, le=255)] | None = None
    correlation_id: Key | None = None
    reply_to: Short | None = None
    delivery_mode: Annotated[int, msgspec.Meta(ge=0, le=255)] | None = None


class Envelope(msgspec.Struct):
    """What kombu's Redis transport reads off the queue (``virtual.Message``)."""

    body: str
    headers: Headers
    properties: Properties
    content_type: Short = msgspec.field(name="content-type")
    content_encoding: Short | None = msgspec.field(name="content-encoding", default=None)


class KombuEnvelope(msgspec.Struct):
    """Any message on the transport (a control reply, a plain kombu consumer's): what
    kombu itself reads. Only queues of Celery tasks are held to :class:`Envelope`."""

    body: str
    properties: Properties
    headers: dict[str, Any] | None = None
    content_type: Short | None = msgspec.field(name="content-type", default=None)
    content_encoding: Short | None = msgspec.field(name="content-encoding", default=None)


class Signature(msgspec.Struct):
    """A Celery signature as a dict (``celery.canvas.Signature``): what Celery applies
    for a callback, an errback, a chain's next step or a chord's body."""

    task: Name
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    subtask_type: Short | None = None
    immutable: bool | None = None
    chord_size: Annotated[int, msgspec.Meta(ge=0)] | None = None


class Embed(msgspec.Struct, forbid_unknown_fields=True):
    """The body's third part. Celery merges it into the task's request, so a key it does
    not put there is refused rather than let into the request."""

    callbacks: list[Signature] | None = None
    errbacks: list[Signature] | None = None
    chain: list[Signature] | None = None
    chord: Signature | None = None
    group_id: Key | None = None
    group_index: Count | None = None


#: the body, protocol 2: ``[args, kwargs, embed]``
Body = tuple[list[Any], dict[str, Any], Embed | None]
