"""Setting a poison message aside: log it, keep it in the dead letters, acknowledge it.

Called from the worker's consumer (``workers/broker/consumer.py``) and its Redis
transport (``workers/broker/redis_transport.py``), in the worker's main process, for
messages that cannot become a task. It never raises: when the dead-letter Redis cannot
be reached the message is appended to ``<AGENTQ_DATA_DIR>/dead-letters.jsonl`` on this
host, and moved into the stream by the next dead letter that reaches Redis, or when the
worker's broker connection is made again (:func:`move_local_dead_letters`).
"""

from __future__ import annotations

import base64
import logging
import os
import socket
from pathlib import Path
from typing import Any

import orjson
import redis

from persistence.formatting import one_line
from workers.broker import message_check
from workers.broker.dead_letters import DeadLetters
from workers.settings import get_settings

logger = logging.getLogger(__name__)

_state: dict[str, Any] = {"hostname": socket.gethostname(), "pid": 0, "keeper": None}


def bind(hostname: str) -> None:
    """Name the worker that sets messages aside (its Celery hostname)."""
    _state["hostname"] = hostname


def _keeper() -> DeadLetters:
    if _state["keeper"] is None or _state["pid"] != os.getpid():
        s = get_settings()
        client = redis.Redis.from_url(
            s.recorder_redis_url, socket_timeout=5, socket_connect_timeout=3
        )
        _state["keeper"] = DeadLetters(client, s.events_stream)
        _state["pid"] = os.getpid()
    keeper: DeadLetters = _state["keeper"]
    return keeper


def reason_of(exc: BaseException, where: str = "envelope") -> str:
    return f"{where} cannot be read: {one_line(exc)}"


def set_aside_envelope(
    raw: Any,
    queue: str,
    reason: str,
    kind: str = message_check.ENVELOPE,
    task_id: str | None = None,
) -> None:
    """A message refused before kombu read it (its raw envelope, as popped)."""
    data = raw if isinstance(raw, bytes) else _dumps(raw)
    _keep(data, queue, reason, kind, task_id)


def set_aside_message(message: Any, kind: str, reason: str, connection_errors: Any = ()) -> None:
    """A message kombu read but Celery cannot run: keep it, then acknowledge it."""
    headers = message.headers if isinstance(message.headers, dict) else {}
    task_id = headers.get("id") if isinstance(headers.get("id"), str) else None
    queue = (message.delivery_info or {}).get("routing_key") or "?"
    _keep(envelope_of(message), str(queue), reason, kind, task_id)
    if not message.acknowledged:
        message.ack_log_error(logger, connection_errors)


def envelope_of(message: Any) -> bytes:
    """The message as received: kombu's virtual transports keep the envelope; for the
    others (AMQP) one is built from the parts, in the same shape."""
    raw = getattr(message, "_raw", None)
    if isinstance(raw, dict):
        return _dumps(raw)
    return _dumps(
        {
            "body": base64.b64encode(message.body or b"").decode(),
            "content-type": message.content_type,
            "content-encoding": message.content_encoding,
            "headers": message.headers,
            "properties": {**(message.properties or {}), "body_encoding": "base64"},
        }
    )


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=repr)
    except TypeError:  # e.g. keys that are not strings
        return repr(value).encode("utf-8", "replace")


def _keep(raw: bytes, queue: str, reason: str, kind: str, task_id: str | None) -> None:
    worker = str(_state["hostname"])
    logger.error(
        "set aside a poison message from queue %s (%s): %s",
        queue,
        kind,
        reason,
        extra={"action": "dead_letter", "queue": queue, "kind": kind},
    )
    fields = {"queue": queue, "reason": reason, "kind": kind, "worker": worker, "task_id": task_id}
    try:
        keeper = _keeper()
        max_bytes = get_settings().dead_letter_max_bytes
        keeper.add_message(raw, max_bytes=max_bytes, **fields)  # type: ignore[arg-type]
        _move_local(keeper, max_bytes)
    except redis.RedisError as exc:
        logger.error("dead letters unreachable (%s): kept in %s", exc, _local_file())
        _append_local(raw, fields)


def move_local_dead_letters() -> None:
    """Move dead letters kept on this host's disk into their stream (never raises)."""
    if not _local_file().exists():
        return
    try:
        _move_local(_keeper(), get_settings().dead_letter_max_bytes)
    except (redis.RedisError, OSError) as exc:
        logger.warning("dead letters kept on disk stay there for now: %s", exc)


def set_aside_abandoned(client: Any, older_than: float) -> int:
    """Poison a worker took off its queue (``workers/broker/take.py`` kept it in the
    taking hash) and never set aside, because it died: set it aside now. Each entry is
    claimed by removing it from the index first, so two workers never both keep it."""
    from workers.broker import take

    done = 0
    for tag in client.zrangebyscore(take.TAKING_INDEX, "-inf", older_than, start=0, num=100):
        if not client.zrem(take.TAKING_INDEX, tag):
            continue  # another worker claimed it
        kept = client.hget(take.TAKING, tag)
        client.hdel(take.TAKING, tag)
        if kept is None:
            continue
        key, _, raw = kept.partition(b"\n")
        queue = key.decode("utf-8", "replace").split(":", 1)[0]
        reason = "taken off the queue by a worker that stopped before it could set it aside"
        _keep(raw, queue, reason, message_check.OTHER, None)
        done += 1
    return done


def _local_file() -> Path:
    return get_settings().data_dir / "dead-letters.jsonl"


def _append_local(raw: bytes, fields: dict[str, Any]) -> None:
    path = _local_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        line = orjson.dumps({**fields, "raw": base64.b64encode(raw).decode()})
        with path.open("ab") as fh:
            fh.write(line + b"\n")
    except OSError as exc:  # a full or read-only disk: the log line above is all there is
        logger.error("dead letter could not be kept on disk either: %s", exc)


def _move_local(keeper: DeadLetters, max_bytes: int) -> None:
    """Move the dead letters kept on disk into the stream; what cannot be moved (Redis
    gone again) goes back into the file, a leftover of a crash first."""
    path = _local_file()
    moving = path.with_suffix(".moving")
    if not moving.exists():
        if not path.exists():
            return
        path.rename(moving)
    lines = moving.read_bytes().splitlines()
    for i, line in enumerate(lines):
        try:
            row = orjson.loads(line)
            raw = base64.b64decode(row.pop("raw"))
        except (orjson.JSONDecodeError, KeyError, ValueError):
            continue  # a torn last line of a crash
        try:
            keeper.add_message(raw, max_bytes=max_bytes, **row)
        except redis.RedisError:
            with path.open("ab") as fh:
                fh.write(b"".join(rest + b"\n" for rest in lines[i:]))
            moving.unlink()
            raise
    moving.unlink()
