"""Kombu's Redis transport, with the two places where a raw envelope becomes a message
guarded: one unreadable envelope must cost one message, not the worker.

Kombu pops a message off the queue (``BRPOP``), parses its JSON envelope and builds a
``Message`` from it before Celery sees anything. An envelope that is not JSON, not
UTF-8, not an object, without ``properties`` / ``delivery_tag``, or whose body is not
valid base64 raises there, in the worker's event loop, and ends the worker
("Unrecoverable error"). Here such an envelope is set aside in the dead letters
(``workers/broker/guard.py``) instead; it was already off the queue and not yet in the
unacked set, so nothing else has to be acknowledged.

Celery picks this transport through ``broker_transport`` (``workers/celeryconfig.py``)
whenever the broker URL is ``redis://`` or ``rediss://``.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from workers.broker import guard


class Channel(kombu_redis.Channel):
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
                self.qos.append(message, message.delivery_tag)
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
            self._in_poll = None
            flush_reauth = getattr(self, "_flush_brpop_reauth", None)  # kombu >= 5.7
            if flush_reauth is not None:
                flush_reauth()


class Transport(kombu_redis.Transport):
    Channel = Channel

    @property
    def supports_batch_publish(self) -> bool:
        # kombu 5.7 reads self.client.hostname, and a connection being closed (Redis
        # killed under the worker) has already set client to None: the worker then died
        # with "'NoneType' object has no attribute 'hostname'" instead of reconnecting.
        if self.client is None:
            return False
        return bool(super().supports_batch_publish)
