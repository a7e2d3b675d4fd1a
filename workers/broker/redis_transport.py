"""Kombu's Redis transport, made safe for the fleet in three places.

* **Taking a message** (``workers/broker/take.py``): the worker blocks on its queues'
  bells and takes a message with a script that moves it into the unacked set in the
  same step, instead of ``BRPOP`` (after which a worker killed, or a connection broken,
  before it wrote the unacked set lost the message). Producers ring the bell with each
  message, in the same round trip.
* **Reading the envelope**: kombu parses the JSON envelope and builds a ``Message`` from
  it (inflating a compressed body whole) before Celery sees anything; a malformed one
  raised there, in the worker's event loop, and ended the worker. Here the raw bytes are
  first held against the message schema (``message_check.check_envelope``: envelope,
  properties, headers and body); a message that fails is set aside in the dead letters
  (``workers/broker/guard.py``) and taken out of the unacked / taking sets.
* **Reconnecting** after Redis died under the worker (``_connparams``).

:func:`install` makes it the transport of ``redis://`` and ``rediss://`` URLs in this
process (``workers/celeryconfig.py`` calls it), so logs and Flower still say
``redis://``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import kombu.transport as kombu_transport
from kombu.transport import TRANSPORT_ALIASES, virtual
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from workers.broker import guard, message_check, take
from workers.settings import get_settings


class QoS(kombu_redis.QoS):
    def restore_visible(self, *args: Any, **kwargs: Any) -> None:
        # kombu brings back unacked messages older than the visibility timeout; poison a
        # worker took and never set aside (it died) is set aside here, after as long.
        super().restore_visible(*args, **kwargs)
        with self.channel.conn_or_acquire() as client:
            guard.set_aside_abandoned(client, time.time() - self.visibility_timeout)


class Channel(kombu_redis.Channel):
    QoS = QoS  # (kombu swaps in virtual.QoS when ack emulation is off)

    def __init__(self, connection: Any, *args: Any, **kwargs: Any) -> None:
        self._conninfo = connection.client  # the kombu Connection, see _connparams
        self._held: str | None = None  # the delivery tag TAKE put in the unacked set
        self._take_queues: list[str] = []
        self._take_next = False  # TAKE again at once (a backlog) rather than wait on bells
        self._taking: str | None = None  # the tag TAKE kept a poison message under
        self._checked: Any = None  # the envelope just delivered, checked against the schema
        self._max_message_bytes = get_settings().message_size_limit
        super().__init__(connection, *args, **kwargs)  # connects (it pings)
        guard.move_local_dead_letters()  # connected again: dead letters kept on disk move

    @property
    def _atomic_take(self) -> bool:
        # kombu's own path where the unacked set is not used or keys are prefixed
        return bool(self.ack_emulation) and not self.global_keyprefix

    def _connparams(self, asynchronous: bool = False) -> Any:
        # When Redis dies under the worker, Celery closes the connection; kombu has then
        # already detached the transport from it (transport.client = None) when the
        # channel's close restores the unacknowledged messages and needs a new client:
        # the worker died with "'NoneType' object has no attribute 'hostname'" instead
        # of reconnecting. Build the parameters from the connection the channel had; the
        # restore then fails as a connection error, which Celery handles (the messages
        # stay in the unacked set and come back after the visibility timeout).
        transport = self.connection
        if transport is None:
            # kombu closed this channel after a lost connection (close_channel sets its
            # transport to None) and a producer still holds it: a task's retry published
            # through it after a network cut failed with an AttributeError, which Celery
            # turns into Reject (the task dropped). As a connection error, kombu's ensure()
            # revives the channel and publishes again.
            raise RedisConnectionError("the broker channel was closed after a lost connection")
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
            held, self._held = self._held, None
            checked, self._checked = self._checked is raw_message, None
            try:
                message = self.Message(raw_message, channel=self)
                message.agentq_checked = checked  # type: ignore[attr-defined] # (no double check)
            except Exception as exc:
                if held:  # it will never be acknowledged: out of the unacked set
                    self.qos._remove_from_indices(held).execute()
                return guard.set_aside_envelope(raw_message, queue, guard.reason_of(exc))
            if not no_ack:
                if held == message.delivery_tag:  # TAKE wrote the unacked set already
                    virtual.QoS.append(self.qos, message, message.delivery_tag)
                else:
                    self.qos.append(message, message.delivery_tag)
            elif held:  # no ack will come (control replies): out of the unacked set TAKE
                self.qos._remove_from_indices(held).execute()  # wrote, or it stays there
            return callback(message)

        self.connection._callbacks[queue] = _callback
        return ret

    # --- producing: the message and its bell in one round trip ---------------------
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        if not self._atomic_take:
            return super()._put(queue, message, **kwargs)
        bell = take.bell(queue, self.sep)
        batch = kwargs.get("_publish_batch")
        if batch is not None:  # kombu's producer batch: add the bell to its pipeline
            super()._put(queue, message, **kwargs)
            batch.add("lpush", bell, "1")
            batch.add("ltrim", bell, 0, take.BELL_MAX - 1)
            return None
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        with self.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
            pipe.lpush(key, dumps(message))
            if self._expires and queue in self._expires:
                for pri in self.priority_steps:
                    pipe.pexpire(self._q_for_pri(queue, pri), self._expires[queue])
            pipe.lpush(bell, "1")
            pipe.ltrim(bell, 0, take.BELL_MAX - 1)
            pipe.execute()
        return None

    # --- consuming: TAKE while there is work, wait on the bells when there is none ------
    def _brpop_start(self, timeout: Any = None) -> None:
        if not self._atomic_take:
            return super()._brpop_start(timeout)
        timeout = self.brpop_timeout if timeout is None else timeout
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return None
        self._take_queues = list(queues)
        self._in_poll = self.client.connection
        self._brpop_sent_at = time.monotonic()  # type: ignore[assignment]
        if self._take_next:  # the last TAKE found a message: there may be more
            self.client.connection.send_command("EVALSHA", *take.evalsha_args(*self._take_args()))
        else:
            bells = [take.bell(q, self.sep) for q in queues]
            self.client.connection.send_command("BRPOP", *bells, timeout or 0)
        return None

    def _take_args(self) -> tuple[list[Any], list[Any]]:
        """TAKE's keys, the queue keys in kombu's order (priority, then the fair cycle), and
        its arguments: the unacked hash, its index, the time, the taking hash, its index
        and a fresh tag."""
        keys = [self._q_for_pri(q, pri) for pri in self.priority_steps for q in self._take_queues]
        held = [self.unacked_key, self.unacked_index_key, time.time()]
        return keys, [*held, take.TAKING, take.TAKING_INDEX, uuid.uuid4().hex]

    @staticmethod
    def _taken(reply: Any) -> tuple[str, bytes, str] | None:
        if not reply:
            return None
        key, item, held = reply
        return bytes_to_str(key), item, bytes_to_str(held)

    def _brpop_read(self, **options: Any) -> bool:
        # kombu.transport.redis.Channel._brpop_read (kombu 5.4-5.7), with loads() replaced
        # by the schema check; with TAKE the reply is TAKE's, or a bell (or the wait's
        # timeout) after which the worker takes on the same connection, now idle.
        try:
            try:
                if not self._atomic_take:
                    conn = self.client.connection
                    dest__item = self.client.parse_response(conn, "BRPOP", **options)
                else:
                    dest__item = self._read_take(**options)
            except self.connection_errors:
                # A ConnectionError: disconnect, and the next iteration reconnects.
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise kombu_redis.Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            try:  # the whole message against the schema, before kombu reads any of it
                task = dest in message_check.TASK_QUEUES  # (else kombu's envelope only)
                envelope = message_check.check_envelope(item, self._max_message_bytes, task)
            except message_check.Refused as refused:
                self._refuse(item, dest, refused)
            except Exception as exc:  # the check itself failed: set aside, never raise
                self._refuse(item, dest, message_check.Refused("other", guard.reason_of(exc)))
            else:
                self._checked = envelope
                self.connection._deliver(envelope, dest)
            self._release_taking()  # set aside, or in the unacked set: no longer needed
            return True
        finally:
            self._held = None
            self._taking = None
            self._in_poll = None  # type: ignore[assignment]
            flush_reauth = getattr(self, "_flush_brpop_reauth", None)  # kombu >= 5.7
            if flush_reauth is not None:
                flush_reauth()

    def _refuse(self, item: bytes, queue: str, refused: message_check.Refused) -> None:
        guard.set_aside_envelope(item, queue, refused.reason, refused.kind, refused.task_id)
        if self._held:  # TAKE put it in the unacked set; it will never be acknowledged
            self.qos._remove_from_indices(self._held).execute()
            self._held = None

    def _release_taking(self) -> None:
        if self._taking is not None:
            tag, self._taking = self._taking, None
            with self.client.pipeline() as pipe:
                pipe.zrem(take.TAKING_INDEX, tag).hdel(take.TAKING, tag).execute()

    def _read_take(self, **options: Any) -> tuple[str, bytes] | None:
        conn = self.client.connection
        if self._take_next:
            try:
                taken = self._taken(self.client.parse_response(conn, "EVALSHA", **options))
            except NoScriptError:  # Redis restarted and forgot TAKE: nothing ran, again
                taken = self._taken(take.run(self.client, *self._take_args()))
        else:
            self.client.parse_response(conn, "BRPOP", **options)  # a bell, or the timeout
            taken = self._taken(take.run(self.client, *self._take_args()))
        self._take_next = taken is not None
        if taken is None:
            return None
        key, item, held = taken
        if held.startswith(take.TAKING_PREFIX):  # poison: kept aside until set aside
            self._taking = held[len(take.TAKING_PREFIX) :]
        else:
            self._held = held or None
        return key, item


class Transport(kombu_redis.Transport):
    Channel = Channel


def install() -> None:
    """Use :class:`Transport` for ``redis://`` and ``rediss://`` broker URLs."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
        # kombu caches what a scheme resolved to: one resolved before install() (another
        # app's connection in the same process) would otherwise stay kombu's own
        kombu_transport._transport_cache.pop(scheme, None)
