"""Where hooks hand events: a Redis stream, with a local spool file as the fallback.

An event is one XADD (``workers/recording/resp.py``: pre-encoded RESP on a held socket),
written without waiting for the reply: the hook returns at once, and the reply is
read on the next emit or at process shutdown (:meth:`EventSink.flush`). Redis holds
it as durably as Redis holds anything; the recorder drains the stream into
PostgreSQL in batches. When Redis cannot be
reached, the events are appended to a spool file on local disk instead, and the
recorder moves them into the stream once Redis is back. Nothing a hook accepted is
dropped, and no hook ever raises into Celery.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import redis

from persistence import wire
from workers.recording import unencodable
from workers.recording.resp import ReplyError, StreamWriter, open_writer

logger = logging.getLogger(__name__)


class EventSink:
    """Per-process writer of lifecycle events (create it after fork: it holds a socket).

    ``confirm="deferred"`` (the default) sends each XADD without waiting for its
    reply; the replies are read on the next emit, or by :meth:`flush` (process
    shutdown). A connection found dead sends its unconfirmed events again on a new
    one; events Redis refuses, or that cannot be sent, are spooled. ``"each"`` waits
    for every reply before the hook returns: a round trip per event, for deployments
    that want Redis's answer before a task goes on. ``"final"`` (a worker's default) waits
    only on emits marked ``final``, the last event of a task before its message is
    acknowledged; replies come in order, so that wait confirms the earlier ones too.
    """

    # Past this many unread replies, wait for them: bounds memory and the resend.
    MAX_UNCONFIRMED = 512

    def __init__(
        self,
        redis_url: str,
        stream: str,
        spool_dir: Path,
        *,
        confirm: str = "deferred",
        timeout: float = 2.0,
    ) -> None:
        if confirm not in ("deferred", "each", "final"):
            raise ValueError(f"confirm must be 'deferred', 'each' or 'final', not {confirm!r}")
        self.stream = stream
        self.spool_dir = spool_dir
        self.confirm_each = confirm == "each"
        self.confirm_final = confirm in ("each", "final")
        self.timeout = timeout
        self._url = redis_url
        self._stream = stream.encode()
        self._writer: StreamWriter | None = None
        # One connection and its reply queue per process: threads (a threads pool,
        # a web server's) take turns. Uncontended, it costs well under a microsecond.
        self._lock = threading.Lock()
        self._spool_lock = threading.Lock()
        self.spooled = 0

    def emit(self, evs: list[dict[str, Any]], *, final: bool = True) -> None:
        """Send one entry; ``final=False`` marks an event more of the task will follow
        in this process (``running``): under ``"final"`` its reply is read later."""
        try:
            payload = wire.encode(evs)
        except TypeError as exc:  # orjson: a lone surrogate, an int past 64 bits, …
            self._unencodable(evs, exc)
            return
        with self._lock:
            self._emit(payload, self.confirm_each or (final and self.confirm_final))

    def _unencodable(self, evs: list[dict[str, Any]], exc: Exception) -> None:
        """Events JSON cannot hold as they are: a recording dead letter, else spooled."""
        logger.error(
            "lifecycle events cannot be encoded (%s): kept in %s:dead",
            exc,
            self.stream,
            extra={"action": "dead_letter"},
        )
        try:
            unencodable.dead_letter(self._url, self.stream, evs, exc)
        except redis.RedisError as down:
            self._spool(unencodable.escaped(evs), down)

    def _emit(self, payload: bytes, wait: bool) -> None:
        sent = False
        try:
            # The writer connects when it is built, so it is built here, inside the
            # try, where a failure spools the event instead of losing it.
            if self._writer is None:
                self._writer = open_writer(self._url, timeout=self.timeout)
            writer = self._writer
            # Replies of earlier sends; also finds a connection Redis closed (restart)
            # before this event is written into it.
            self._spool_refused(writer.poll())
            writer.send(self._stream, b"e", payload)
            sent = True
            if wait or len(writer.unconfirmed) > self.MAX_UNCONFIRMED:
                self._spool_refused(writer.confirm(self.timeout))
        except (OSError, ReplyError) as exc:
            self._recover(exc, [] if sent else [payload])

    def flush(self) -> None:
        """Wait for Redis's reply to every event sent (spooling what it refused)."""
        with self._lock:
            if self._writer is None or not self._writer.unconfirmed:
                return
            try:
                self._spool_refused(self._writer.confirm(self.timeout))
            except (OSError, ReplyError) as exc:
                self._recover(exc, [])

    def _recover(self, exc: Exception, unsent: list[bytes]) -> None:
        """The connection failed: send what it had not confirmed again, on a fresh one
        (a held connection goes stale when Redis restarts); spool it if that fails too."""
        pending = list(self._writer.unconfirmed) if self._writer is not None else []
        pending += unsent
        self.close()
        if isinstance(exc, OSError) and pending:
            try:
                writer = self._writer = open_writer(self._url, timeout=self.timeout)
                for payload in pending:
                    writer.send(self._stream, b"e", payload)
                self._spool_refused(writer.confirm(self.timeout))
                return
            except (OSError, ReplyError) as again:
                # All of it: what did reach Redis is deduplicated by its event ids.
                self.close()
                exc = again
        for payload in pending:
            self._spool(payload, exc)

    def _spool_refused(self, refused: list[tuple[bytes, str]]) -> None:
        for payload, error in refused:  # e.g. OOM, READONLY: Redis is up but refuses
            self._spool(payload, ReplyError(error))

    def _spool(self, payload: bytes, exc: Exception) -> None:
        try:
            with self._spool_lock:
                self.spool_dir.mkdir(parents=True, exist_ok=True)
                path = self.spool_dir / f"{socket.gethostname()}-{os.getpid()}.jsonl"
                with path.open("ab") as fh:
                    fh.write(payload + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                self.spooled += 1
            logger.warning(
                "recording stream unreachable (%s): spooled event to %s",
                exc,
                path,
                extra={"action": "spool_event"},
            )
        except OSError:
            logger.critical(
                "recording stream unreachable and spool not writable: event lost: %s",
                payload[:500].decode(errors="replace"),
                exc_info=True,
                extra={"action": "event_lost"},
            )

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            with contextlib.suppress(OSError):
                writer.close()


def replay_spool(r: redis.Redis, stream: str, spool_dir: Path) -> int:
    """Move spooled events into the stream; returns how many entries were moved.

    A file is renamed before it is read so that a writer that is still alive starts a
    new file; entries are deleted only after they are all in the stream. A replay that
    stops half way may add an entry twice: event ids make that harmless.
    """
    if not spool_dir.is_dir():
        return 0
    moved = 0
    for path in sorted(spool_dir.glob("*.jsonl")):
        claimed = path.with_suffix(f".replaying-{os.getpid()}")
        try:
            path.rename(claimed)
        except OSError:
            continue
        moved += _replay_file(r, stream, claimed)
    # Also files a crashed replayer had claimed (any pid).
    for claimed in sorted(spool_dir.glob("*.replaying-*")):
        moved += _replay_file(r, stream, claimed)
    return moved


def _replay_file(r: redis.Redis, stream: str, path: Path) -> int:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except FileNotFoundError:  # another recorder took it
        return 0
    pipe = r.pipeline(transaction=False)
    for line in lines:
        pipe.xadd(stream, {"e": line})
    pipe.execute()
    path.unlink(missing_ok=True)
    return len(lines)
