"""XADD over a plain socket: the one Redis command on every task's hot path.

Every task pays for three XADDs (the producer's pending + queued, not waited for; the
pool process's running and its end, each waited for). CPU per XADD here: 43 us not
waited for, 75 us waited for, 193 us per task. The same job on redis-py's own
``Connection`` (``pack_command`` / ``send_packed_command`` / ``read_response``, same
pipelining): 71 us (1.7x), 101 us (1.35x), 273 us per task (1.4x); redis-py's client
(``Redis.xadd``): 518 us per task (2.7x). Medians of 7 interleaved runs of 3,000 XADDs
on the 2-core dev machine (redis-py 8.1, no hiredis), ``python bench/bench_resp.py``;
the ratios held over three runs (1.67-1.75x, 1.26-1.35x, 1.37-1.42x). The 60-80 us a
task saves is about a fifth of what recording adds to a bare Celery task's CPU.

Most of what is left is the wait for the reply: the hook's process sleeps until
Redis has run, and on a busy machine each such sleep/wake costs a context switch
and cold caches. So the writer *pipelines*: :meth:`RespWriter.send` writes the
command and returns; replies are read later, without blocking, on the next send
(:meth:`RespWriter.poll`), or all at once by :meth:`RespWriter.confirm`. The
payloads whose replies have not been read yet stay in ``unconfirmed`` so that the
caller can send them again on a new connection, or spool them, when the connection
turns out to have died or Redis refused them (``workers/recording/sink.py``). Stream entries
carry event ids, so an entry added twice is harmless.

Only what the hooks need: connect, AUTH, SELECT, XADD. Plain TCP and unix sockets;
for TLS (``rediss://``) :func:`open_writer` returns redis-py's client, which is slower,
confirms every XADD, but speaks TLS. Errors are :class:`OSError` (connection) or
:class:`ReplyError` (Redis answered with an error).
"""

from __future__ import annotations

import socket
import time
from collections import deque
from typing import Any, Protocol

import redis
from redis.connection import parse_url


class ReplyError(Exception):
    """Redis answered a command with an error reply (``-ERR …``)."""


class StreamWriter(Protocol):
    # Payloads sent whose replies are not read yet, oldest first.
    unconfirmed: deque[bytes]

    def send(self, stream: bytes, field: bytes, value: bytes) -> None: ...
    def poll(self) -> list[tuple[bytes, str]]: ...
    def confirm(self, timeout: float) -> list[tuple[bytes, str]]: ...
    def close(self) -> None: ...


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


class RespWriter:
    """One connection, opened on construction (raises :class:`OSError` when it cannot).

    ``poll``/``confirm`` return the payloads Redis refused, with its error; the
    connection stays usable after a refusal. They raise :class:`OSError` when the
    connection is gone, leaving ``unconfirmed`` for the caller to send again.
    """

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        opts: dict[str, Any] = parse_url(url)
        if "path" in opts:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(opts["path"])
        else:
            sock = socket.create_connection(
                (opts.get("host", "localhost"), int(opts.get("port", 6379))), timeout=timeout
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Blocking from here on: MSG_DONTWAIT reads do not wait, and on a socket
        # with a timeout Python would poll() for readability before every recv.
        sock.settimeout(None)
        self._sock = sock
        self._timeout = timeout
        self._buf = bytearray()
        self.unconfirmed: deque[bytes] = deque()
        try:
            if opts.get("password"):
                creds = [opts["password"].encode()]
                if opts.get("username"):
                    creds.insert(0, opts["username"].encode())
                self._handshake(_command(b"AUTH", *creds))
            if int(opts.get("db") or 0):
                self._handshake(_command(b"SELECT", str(int(opts["db"])).encode()))
        except BaseException:
            self.close()
            raise

    def _handshake(self, packed: bytes) -> None:
        self._sock.sendall(packed)
        deadline = time.monotonic() + self._timeout
        while True:
            reply = self._next_reply()
            if reply is not None:
                ok, text = reply
                if not ok:
                    raise ReplyError(text)
                return
            self._fill(deadline)

    def send(self, stream: bytes, field: bytes, value: bytes) -> None:
        self._sock.sendall(
            b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
            % (len(stream), stream, len(field), field, len(value), value)
        )
        self.unconfirmed.append(value)

    def poll(self) -> list[tuple[bytes, str]]:
        """Read the replies that have arrived, without waiting."""
        if self.unconfirmed:
            try:
                data = self._sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                data = None
            if data is not None:
                if not data:
                    raise ConnectionError("Redis closed the connection")
                self._buf += data
        else:
            # Nothing is owed: a readable socket can only mean the peer went away.
            # Found now, before a send, it costs nothing to reconnect.
            try:
                data = self._sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK)
            except BlockingIOError:
                return []
            raise ConnectionError("Redis closed the connection" if not data else "unexpected data")
        return self._take_replies()

    def confirm(self, timeout: float) -> list[tuple[bytes, str]]:
        """Wait until every payload sent has its reply (or raise :class:`OSError`)."""
        refused = self._take_replies()
        deadline = time.monotonic() + timeout
        while self.unconfirmed:
            self._fill(deadline)
            refused += self._take_replies()
        return refused

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no reply from Redis")
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        finally:
            self._sock.settimeout(None)
        if not data:
            raise ConnectionError("Redis closed the connection")
        self._buf += data

    def _take_replies(self) -> list[tuple[bytes, str]]:
        refused: list[tuple[bytes, str]] = []
        while self.unconfirmed:
            reply = self._next_reply()
            if reply is None:
                break
            payload = self.unconfirmed.popleft()
            if not reply[0]:
                refused.append((payload, reply[1]))
        return refused

    def _next_reply(self) -> tuple[bool, str] | None:
        """Parse one reply off the buffer: (ok, text), or None when it is incomplete."""
        buf = self._buf
        end = buf.find(b"\r\n")
        if end < 0:
            return None
        kind = buf[:1]
        if kind == b"$":
            size = int(buf[1:end])
            stop = end + 2 + (size + 2 if size >= 0 else 0)
            if len(buf) < stop:
                return None
            text = bytes(buf[end + 2 : stop - 2]).decode(errors="replace") if size >= 0 else ""
            del buf[:stop]
            return True, text
        text = bytes(buf[1:end]).decode(errors="replace")
        del buf[: end + 2]
        if kind == b"-":
            return False, text
        if kind in (b"+", b":"):
            return True, text
        raise ConnectionError(f"unexpected reply from Redis: {text[:40]!r}")

    def close(self) -> None:
        self._sock.close()


class _RedisPyWriter:
    """redis-py's client for what :class:`RespWriter` does not speak (TLS); every send
    is confirmed at once, so nothing is ever left unconfirmed."""

    def __init__(self, url: str, timeout: float) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.unconfirmed: deque[bytes] = deque()
        self._refused: list[tuple[bytes, str]] = []

    def send(self, stream: bytes, field: bytes, value: bytes) -> None:
        self.unconfirmed.append(value)
        try:
            self._client.xadd(stream, {field: value})
        except redis.ResponseError as exc:
            self._refused.append((value, str(exc)))
        except redis.RedisError as exc:
            raise ConnectionError(str(exc)) from None
        self.unconfirmed.pop()

    def poll(self) -> list[tuple[bytes, str]]:
        refused, self._refused = self._refused, []
        return refused

    def confirm(self, timeout: float) -> list[tuple[bytes, str]]:
        return self.poll()

    def close(self) -> None:
        self._client.close()


def open_writer(url: str, timeout: float = 2.0) -> StreamWriter:
    """A connected writer for ``url`` (``redis://``, ``unix://``; ``rediss://`` via redis-py)."""
    if url.startswith("rediss://"):
        return _RedisPyWriter(url, timeout)
    return RespWriter(url, timeout)
