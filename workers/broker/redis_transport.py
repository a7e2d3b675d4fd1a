"""Kombu's Redis transport, with the two places where a raw envelope becomes a message
guarded: one unreadable envelope must cost one message, not the worker.

Kombu pops a message off the queue (``BRPOP``), parses its JSON envelope and builds a
``Message`` from it before Celery sees anything. An envelope that is not JSON, not
UTF-8, not an object, without ``properties`` / ``delivery_tag``, or whose body is not
valid base64 raises there, in the worker's event loop, and ends the worker
("Unrecoverable error"). Here such an envelope is set aside in the dead letters
(``workers/broker/guard.py``) instead; it was already off the queue and not yet in the
unacked set, so nothing else has to be acknowledged. A message whose unacked-set write
fails because the connection broke is kept on disk and requeued on reconnect
(``workers/broker/inflight.py``).

:func:`install` makes it the transport of ``redis://`` and ``rediss://`` URLs in this
process (``workers/celeryconfig.py`` calls it), so logs and Flower still say
``redis://``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from workers.broker import guard, inflight


class Channel(kombu_redis.Channel):
    def __init__(self, connection: Any, *args: Any, **kwargs: Any) -> None:
        self._conninfo = connection.client  # the kombu Connection, see _connparams
        super().__init__(connection, *args, **kwargs)  # connects (it pings)
        # Connected again: what was taken off a queue when the last connection broke
        # goes back on it, and dead letters kept on disk move into their stream.
        if self.ack_emulation:
            with contextlib.suppress(*self.connection_errors):  # broken again: next time
                inflight.requeue(self)
        guard.move_local_dead_letters()

    def _connparams(self, asynchronous: bool = False) -> Any:
        # When Redis dies under the worker, Celery closes the connection; kombu has then
        # already detached the transport from it (transport.client = None) when the
        # channel's close restores the unacknowledged messages and needs a new client:
        # the worker died with "'NoneType' object has no attribute 'hostname'" instead
        # of reconnecting. Build the parameters from the connection the channel had; the
        # restore then fails as a connection error, which Celery handles (the messages
        # stay in the unacked set and come back after the visibility timeout).
        transport = self.connection
        if transport.client is not None or self._conninfo is None:
            return super()._connparams(asynchronous=asynchronous)
        transport.client = self._conninfo
        try:
            return super()._connparams(asynchronous=asynchronous)
        finally:
            transport.client = None

    def basic_consume(
        self, queue: str, no_ack: bool, callback: Any, consumer_tag: str, **kwargs: Any
    ) -> Any:
        ret = super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

        # kombu's own _callback (virtual.Channel.basic_consume), with the envelope guarded.
        def _callback(raw_message: Any) -> Any:
            try:
                message = self.Message(raw_message, channel=self)
            except Exception as exc:
                return guard.set_aside_envelope(raw_message, queue, guard.reason_of(exc))
            if not no_ack:
                try:
                    self.qos.append(message, message.delivery_tag)
                except self.connection.connection_errors:
                    # Off the queue but not in the unacked set: kombu would drop it.
                    info = message.delivery_info
                    inflight.hold(raw_message, info["exchange"], info["routing_key"])
                    raise
            return callback(message)

        self.connection._callbacks[queue] = _callback
        return ret

    def _brpop_read(self, **options: Any) -> bool:
        # kombu.transport.redis.Channel._brpop_read (kombu 5.4-5.7), with loads() guarded.
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                # A ConnectionError: disconnect, and the next iteration reconnects.
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise kombu_redis.Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            try:
                envelope = loads(bytes_to_str(item))
            except Exception as exc:
                guard.set_aside_envelope(item, dest, guard.reason_of(exc, "envelope"))
                return True
            self.connection._deliver(envelope, dest)
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]
            flush_reauth = getattr(self, "_flush_brpop_reauth", None)  # kombu >= 5.7
            if flush_reauth is not None:
                flush_reauth()


class Transport(kombu_redis.Transport):
    Channel = Channel


def install() -> None:
    """Use :class:`Transport` for ``redis://`` and ``rediss://`` broker URLs."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
