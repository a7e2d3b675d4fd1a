"""Events a hook cannot encode: kept in the recording dead letters, never dropped.

A hook's events are encoded with orjson (``persistence/wire.py``), which refuses what
JSON text in UTF-8 cannot hold: a string with a lone surrogate (a task id
``"\\ud800abc"`` from a raw message, a handler's output), an integer past 64 bits,
nesting past 255 levels. Such a transition used to vanish: the hook logged the error
and nothing reached the stream, the spool or a dead letter. Here it is written to the
recording dead letters (``<stream>:dead``, listed by ``agentq dead-letters``) with the
reason and the events as escaped, ASCII-only JSON (what can be shown of them); when
Redis cannot take it, to the spool, from which the recorder sets it aside the same way
(the database and the strict decoder refuse it).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import redis

from persistence.formatting import one_line

REASON = "a lifecycle hook could not encode these events"


def escaped(evs: list[dict[str, Any]]) -> bytes:
    """The events as ASCII-only JSON: lone surrogates escaped (``\\ud800``), big
    integers written out; repr() of anything else JSON cannot hold."""
    try:
        return json.dumps(evs, ensure_ascii=True, default=repr).encode()
    except (ValueError, TypeError, RecursionError):  # circular, non-str keys, too deep
        return repr(evs).encode("ascii", "backslashreplace")


def dead_letter(url: str, stream: str, evs: list[dict[str, Any]], exc: Exception) -> bytes:
    """Keep the events in ``<stream>:dead``; returns the payload kept. Raises
    :class:`redis.RedisError` when Redis does not take it (the caller spools it)."""
    payload = escaped(evs)
    fields: dict[Any, Any] = {
        "e": payload,
        "reason": f"{REASON}: {one_line(exc, 400)}",
        "entry": "",  # never in the stream
        "f.source": f"hook {socket.gethostname()}-{os.getpid()}",
    }
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.xadd(stream + ":dead", fields)
    finally:
        client.close()
    return payload
