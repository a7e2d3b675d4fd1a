"""The dead letters: what was set aside instead of stopping the fleet, with the reason.

Two Redis streams on the recording Redis (``AGENTQ_EVENTS_URL``, by default the broker):

* ``agentq:messages:dead`` — broker messages a worker could not turn into a task
  (``workers/broker/guard.py``): the raw message as received, its queue, the reason and
  a short ``kind`` (``envelope``, ``encoding``, ``body``, ``headers``, ``unknown_task``,
  ``too_large``, ``other``).
* ``<AGENTQ_EVENTS_STREAM>:dead`` — recording-stream entries the recorder could not
  record (``workers/recording/recorder.py``): the entry's events ``e``, its stream id, the reason.

``agentq dead-letters`` lists them, ``--replay`` puts them back (a message on its queue,
an entry on the recording stream), ``--purge`` deletes them. Both streams are capped
(``MAXLEN ~``): a flood of poison cannot fill Redis.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterable
from typing import Any

import orjson
import redis

SOURCE_MESSAGES = "messages"
SOURCE_RECORDING = "recording"
SOURCES = (SOURCE_MESSAGES, SOURCE_RECORDING)
MESSAGES_STREAM = "agentq:messages:dead"
COUNTS_KEY = "agentq:messages:dead:counts"  # kind -> how many ever (for /metrics)
MAX_ENTRIES = 100_000


class NotReplayable(ValueError):
    """A dead letter that cannot be put back as it is (its envelope is unreadable)."""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class DeadLetters:
    """Both dead-letter streams of one Redis."""

    def __init__(self, client: redis.Redis, events_stream: str = "agentq:events") -> None:
        self.redis: Any = client  # redis-py's stubs type replies as unions of everything
        self.streams = {SOURCE_MESSAGES: MESSAGES_STREAM, SOURCE_RECORDING: events_stream + ":dead"}
        self.events_stream = events_stream

    # --- writing ---------------------------------------------------------------------
    def add_message(
        self,
        raw: bytes,
        *,
        queue: str,
        reason: str,
        kind: str,
        worker: str,
        task_id: str | None = None,
        max_bytes: int = 8 << 20,
    ) -> str:
        """Set one broker message aside; returns its dead-letter id."""
        fields: dict[str, Any] = {
            "raw": raw[:max_bytes],
            "queue": queue,
            "reason": reason,
            "kind": kind,
            "worker": worker,
            "at": f"{time.time():.3f}",
            "task_id": task_id or "",
            "truncated": "1" if len(raw) > max_bytes else "0",
        }
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(MESSAGES_STREAM, fields, maxlen=MAX_ENTRIES, approximate=True)
        pipe.hincrby(COUNTS_KEY, kind, 1)
        eid, _ = pipe.execute()
        return _text(eid)

    # --- reading ---------------------------------------------------------------------
    def count(self) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        for stream in self.streams.values():
            pipe.xlen(stream)
        return dict(zip(self.streams, (int(n) for n in pipe.execute()), strict=True))

    def kinds_total(self) -> dict[str, int]:
        """Broker messages set aside since the counters began, per kind."""
        return {_text(k): int(v) for k, v in self.redis.hgetall(COUNTS_KEY).items()}

    def entries(self, source: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest ``limit`` dead letters of ``source``, oldest first."""
        rows = self.redis.xrevrange(self.streams[source], count=limit)
        return [self._row(source, eid, fields) for eid, fields in reversed(rows)]

    def _row(self, source: str, eid: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
        row: dict[str, Any] = {"source": source, "id": _text(eid)}
        for k, v in fields.items():
            key = _text(k)
            if key in ("raw", "e"):
                row["size"] = len(v)
                row["preview"] = _text(v[:200])
            else:
                row[key] = _text(v)
        return row

    # --- acting ------------------------------------------------------------------------
    def purge(self, source: str | None = None) -> dict[str, int]:
        """Delete every dead letter of ``source`` (both when None); returns how many."""
        chosen = [source] if source else list(self.streams)
        counts = self.count()
        self.redis.delete(*(self.streams[s] for s in chosen))
        return {s: counts[s] for s in chosen}

    def take(self, source: str, ids: Iterable[str]) -> list[tuple[str, dict[bytes, bytes]]]:
        """The named dead letters' fields (unknown ids are left out)."""
        out: list[tuple[str, dict[bytes, bytes]]] = []
        for eid in ids:
            rows = self.redis.xrange(self.streams[source], eid, eid)
            out.extend((_text(i), f) for i, f in rows)
        return out

    def replay_recording(self, ids: Iterable[str]) -> int:
        """Put recording entries back on the recording stream; each leaves the dead letters."""
        done = 0
        for eid, fields in self.take(SOURCE_RECORDING, ids):
            pipe = self.redis.pipeline(transaction=True)
            pipe.xadd(self.events_stream, {"e": fields.get(b"e", b"")})
            pipe.xdel(self.streams[SOURCE_RECORDING], eid)
            pipe.execute()
            done += 1
        return done

    def forget(self, source: str, eid: str) -> None:
        self.redis.xdel(self.streams[source], eid)


def message_parts(raw: bytes) -> dict[str, Any]:
    """A dead message's body (bytes), headers, content type and encoding, for replay.

    :class:`NotReplayable` when the envelope itself is what was wrong.
    """
    try:
        env = orjson.loads(raw)
        props = env.get("properties") or {}
        body = env.get("body") or ""
        if props.get("body_encoding") == "base64":
            body = base64.b64decode(body, validate=True)
        elif isinstance(body, str):
            body = body.encode()
        return {
            "body": body,
            "headers": dict(env.get("headers") or {}),
            "content_type": env["content-type"],
            "content_encoding": env.get("content-encoding") or "utf-8",
            "priority": props.get("priority"),
        }
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, binascii.Error) as exc:
        raise NotReplayable(f"its envelope cannot be read: {type(exc).__name__}") from None
