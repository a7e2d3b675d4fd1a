"""XADD over a plain socket: the one Redis command on every task's hot path.

Every task pays for three XADDs (the producer's pending + queued, the pool process's
running and its end). Through redis-py's client one costs about 85 us of CPU (command
dispatch, retry wrapper, response callbacks, select() on the socket); written as
pre-encoded RESP on a plain blocking socket it costs about 3 us, and the measured
overhead of recording on a no-op task drops by a fifth (bench/README.md).

Only what the hooks need: connect, AUTH, SELECT, XADD. Plain TCP and unix sockets;
for TLS (``rediss://``) :func:`open_writer` returns redis-py's client, which is slower
but speaks TLS. Errors are :class:`OSError` (connection) or :class:`ReplyError` (Redis
answered with an error); the caller (``workers/sink.py``) spools on either.
"""

from __future__ import annotations

import socket
from typing import Any, Protocol

import redis
from redis.connection import parse_url


class ReplyError(Exception):
    """Redis answered a command with an error reply (``-ERR …``)."""


class StreamWriter(Protocol):
    def xadd(self, stream: bytes, field: bytes, value: bytes) -> None: ...
    def close(self) -> None: ...


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


class RespWriter:
    """One connection, opened on construction (raises :class:`OSError` when it cannot)."""

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
        self._sock = sock
        self._reader = sock.makefile("rb")
        try:
            if opts.get("password"):
                creds = [opts["password"].encode()]
                if opts.get("username"):
                    creds.insert(0, opts["username"].encode())
                self._call(_command(b"AUTH", *creds))
            if int(opts.get("db") or 0):
                self._call(_command(b"SELECT", str(int(opts["db"])).encode()))
        except BaseException:
            self.close()
            raise

    def xadd(self, stream: bytes, field: bytes, value: bytes) -> None:
        self._call(
            b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
            % (len(stream), stream, len(field), field, len(value), value)
        )

    def _call(self, packed: bytes) -> bytes:
        self._sock.sendall(packed)
        return self._reply()

    def _reply(self) -> bytes:
        line = self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            raise ReplyError(rest.decode(errors="replace"))
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return b""
            data = self._reader.read(size + 2)
            if len(data) != size + 2:
                raise ConnectionError("Redis closed the connection")
            return data[:-2]
        if kind in (b"+", b":"):
            return rest
        raise ConnectionError(f"unexpected reply from Redis: {line[:40]!r}")

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            self._sock.close()


class _RedisPyWriter:
    """redis-py's client for what :class:`RespWriter` does not speak (TLS)."""

    def __init__(self, url: str, timeout: float) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def xadd(self, stream: bytes, field: bytes, value: bytes) -> None:
        try:
            self._client.xadd(stream, {field: value})
        except redis.ResponseError as exc:
            raise ReplyError(str(exc)) from None
        except redis.RedisError as exc:
            raise ConnectionError(str(exc)) from None

    def close(self) -> None:
        self._client.close()


def open_writer(url: str, timeout: float = 2.0) -> StreamWriter:
    """A connected writer for ``url`` (``redis://``, ``unix://``; ``rediss://`` via redis-py)."""
    if url.startswith("rediss://"):
        return _RedisPyWriter(url, timeout)
    return RespWriter(url, timeout)
