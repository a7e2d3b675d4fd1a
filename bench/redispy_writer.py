"""The hooks' XADD writer done with redis-py's own connection, for comparison.

:class:`ConnectionWriter` does what ``workers/recording/resp.py``'s ``RespWriter`` does,
with the same pipelining (:meth:`send` writes and returns; replies are read later,
without waiting, by :meth:`poll`, or all at once by :meth:`confirm`) and the same
errors (:class:`OSError` for the connection, ``ReplyError`` for a refused AUTH or
SELECT, refused payloads returned with Redis's error), so that
``workers/recording/sink.py`` can use either (``tests/integration/test_resp.py`` passes
with it in place of ``RespWriter``). Everything on the wire goes through
``redis.connection.Connection``: ``pack_command``, ``send_packed_command``, ``can_read``
and ``read_response``. Built by a ``ConnectionPool`` from the URL, so it speaks
whatever redis-py speaks (``unix://``, ``rediss://``).

Like ``RespWriter`` the socket is blocking (no ``socket_timeout``: redis-py would wait
for readability before every send and recv); ``confirm`` passes its deadline to
``read_response``. The health check before a send is off (``RespWriter`` has none).
"""

from __future__ import annotations

import time
from collections import deque

import redis
from redis.connection import ConnectionPool

from workers.recording.resp import ReplyError


class ConnectionWriter:
    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self._pool = ConnectionPool.from_url(url, socket_connect_timeout=timeout)
        self._conn = self._pool.make_connection()
        self.unconfirmed: deque[bytes] = deque()
        try:
            self._conn.connect()  # AUTH, SELECT (and CLIENT SETINFO)
        except (redis.AuthenticationError, redis.ResponseError) as exc:
            self.close()
            raise ReplyError(str(exc)) from None
        except redis.ConnectionError as exc:
            raise ConnectionError(str(exc)) from None

    def send(self, stream: bytes, field: bytes, value: bytes) -> None:
        conn = self._conn
        try:
            conn.send_packed_command(
                conn.pack_command("XADD", stream, "*", field, value), check_health=False
            )
        except redis.RedisError as exc:
            raise ConnectionError(str(exc)) from None
        self.unconfirmed.append(value)

    def poll(self) -> list[tuple[bytes, str]]:
        """Read the replies that have arrived, without waiting."""
        refused: list[tuple[bytes, str]] = []
        try:
            if not self.unconfirmed:
                # Nothing is owed: readable means closed (redis-py raises) or garbage.
                if self._conn.can_read(timeout=0):
                    raise ConnectionError("unexpected data")
                return refused
            while self.unconfirmed and self._conn.can_read(timeout=0):
                self._read_one(refused, None)
        except redis.ConnectionError as exc:
            raise ConnectionError(str(exc)) from None
        return refused

    def confirm(self, timeout: float) -> list[tuple[bytes, str]]:
        """Wait until every payload sent has its reply (or raise :class:`OSError`)."""
        refused: list[tuple[bytes, str]] = []
        deadline = time.monotonic() + timeout
        try:
            while self.unconfirmed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no reply from Redis")
                self._read_one(refused, remaining)
        except redis.TimeoutError:
            raise TimeoutError("no reply from Redis") from None
        except redis.ConnectionError as exc:
            raise ConnectionError(str(exc)) from None
        return refused

    def _read_one(self, refused: list[tuple[bytes, str]], timeout: float | None) -> None:
        try:
            if timeout is None:
                self._conn.read_response(disconnect_on_error=False)
            else:
                self._conn.read_response(timeout=timeout, disconnect_on_error=False)
        except redis.ResponseError as exc:
            refused.append((self.unconfirmed.popleft(), str(exc)))
            return
        self.unconfirmed.popleft()

    def close(self) -> None:
        self._conn.disconnect()
        self._pool.disconnect()
