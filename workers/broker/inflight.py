"""Messages a worker popped off a queue while the broker connection broke under it.

Kombu's Redis transport takes a message with ``BRPOP`` and only then writes it to the
unacked set (``qos.append``); the visibility timeout can bring back only what is in
that set. When the connection breaks between the two (Redis restarting, the host's
link going down), the message exists nowhere but in this process: kombu drops it, and
the task is lost. The soak found one such task in 1 500 around a Redis restart.

Here the popped envelope is appended to ``<AGENTQ_DATA_DIR>/inflight.jsonl`` (kept on
disk: the worker may be killed before it reconnects) and the next channel that
connects pushes it back on its queue, where it is taken next (the end ``BRPOP`` reads),
marked redelivered. A message that did reach the unacked set is never held here, so
nothing is put back twice by this path.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from workers.settings import get_settings

logger = logging.getLogger(__name__)


def _file() -> Path:
    return get_settings().data_dir / "inflight.jsonl"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process of this host at a time reads or writes the file (a worker's main
    process and a producer on the same data directory may both hold or requeue)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def hold(envelope: Any, exchange: str, routing_key: str) -> None:
    """Keep a popped envelope whose unacked-set write failed (never raises)."""
    path = _file()
    try:
        line = orjson.dumps({"envelope": envelope, "exchange": exchange, "rk": routing_key})
        with _locked(path), path.open("ab") as fh:
            fh.write(line + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        logger.warning(
            "broker connection lost with a message taken off its queue: kept in %s until "
            "the worker reconnects",
            path,
        )
    except (OSError, TypeError) as exc:
        logger.error("a message taken off its queue could not be kept: %s", exc)


def requeue(channel: Any) -> int:
    """Put every held envelope back on its queue through ``channel`` (connected);
    returns how many. The file is emptied only after all of them are back: a crash in
    between puts some back twice (the task runs twice under one id, which the record
    shows as one task), never none."""
    path = _file()
    if not path.exists():
        return 0
    with _locked(path):
        rows = []
        for line in path.read_bytes().splitlines():
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # a torn last line of a crash
        done = 0
        try:
            with channel.conn_or_acquire() as client:
                for row in rows:
                    pipe = client.pipeline()
                    channel._do_restore_message(row["envelope"], row["exchange"], row["rk"], pipe)
                    pipe.execute()
                    done += 1
        finally:
            # what is back leaves the file; what is not (the connection broke again) stays
            rest = b"".join(orjson.dumps(row) + b"\n" for row in rows[done:])
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(rest)
            tmp.replace(path)
    if done:
        logger.warning("requeued %d message(s) taken off a queue before a lost connection", done)
    return done
