"""The broker layer's footing: the kombu and Celery internals that
``workers/broker/redis_transport.py`` and ``consumer.py`` override or call are what
``workers/broker/kombu_contract.py`` recorded — the same signatures, the same bodies — and
a live channel has the attributes the overrides read. A kombu or Celery upgrade that
changes any of them fails here, naming the method and our code that depends on it."""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Connection, Exchange, Queue
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

from workers.broker import consumer, kombu_contract, redis_transport, take

QUEUE = "contract_test"


def test_what_the_overrides_rely_on_is_as_recorded() -> None:
    found = kombu_contract.problems()
    assert found == [], "kombu / Celery changed under our overrides:\n" + "\n".join(found)


def test_a_changed_method_is_named_with_our_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a kombu release that changed ``_brpop_read`` would show (the check itself,
    proven to fail): its new signature and body, and where our copy of it is."""

    def _brpop_read(self: Any, timeout: float, **options: Any) -> bool:
        return False

    monkeypatch.setattr(kombu_redis.Channel, "_brpop_read", _brpop_read)
    monkeypatch.delattr(kombu_redis.Channel, "_flush_brpop_reauth")
    found = kombu_contract.problems()
    assert len(found) == 3, found
    signature, body, gone = found
    assert signature.startswith("kombu.transport.redis:Channel._brpop_read signature changed")
    assert "recorded (self, **options), now (self: 'Any', timeout: 'float'" in signature
    assert "workers/broker/redis_transport.py Channel._brpop_read" in signature
    assert body.startswith("kombu.transport.redis:Channel._brpop_read body changed")
    assert gone.startswith("kombu.transport.redis:Channel._flush_brpop_reauth is gone")


def test_every_override_of_kombu_or_celery_is_recorded() -> None:
    """A method added to our subclasses that shadows one of kombu's or Celery's must be
    recorded too (with what of ours depends on it)."""
    recorded = {r.target for r in kombu_contract.RELIED_ON}
    ours = [
        (redis_transport.QoS, kombu_redis.QoS),
        (redis_transport.Channel, kombu_redis.Channel),
        (redis_transport.Transport, kombu_redis.Transport),
        (consumer.Consumer, CeleryConsumer),
    ]
    missing = []
    for cls, base in ours:
        for name, value in vars(cls).items():
            if not inspect.isfunction(value) or not hasattr(base, name):
                continue
            owner = next(k for k in base.__mro__ if name in vars(k))
            target = f"{owner.__module__}:{owner.__qualname__}.{name}"
            if target not in recorded:
                missing.append(f"{cls.__qualname__}.{name} overrides {target}")
    assert missing == [], "record these in workers/broker/kombu_contract.py: " + str(missing)


@pytest.fixture
def channel(clean: str) -> Iterator[Any]:
    redis_transport.install()
    with Connection(os.environ["CELERY_BROKER_URL"], transport_options={"sep": ":"}) as conn:
        chan = conn.channel()
        try:
            yield chan
        finally:
            chan.close()


def test_a_live_channel_has_what_the_overrides_read(channel: Any) -> None:
    assert TRANSPORT_ALIASES["redis"] == "workers.broker.redis_transport:Transport"
    assert isinstance(channel, redis_transport.Channel)
    assert isinstance(channel.qos, redis_transport.QoS)
    missing = [
        f"{where}.{name}"
        for where, obj, names in (
            ("Channel", channel, kombu_contract.CHANNEL_ATTRIBUTES),
            ("QoS", channel.qos, kombu_contract.QOS_ATTRIBUTES),
            ("Transport", channel.connection, kombu_contract.TRANSPORT_ATTRIBUTES),
        )
        for name in names
        if not hasattr(obj, name)
    ]
    assert missing == [], f"kombu no longer has what workers/broker/ reads: {missing}"
    assert callable(channel._queue_cycle.consume) and callable(channel._queue_cycle.rotate)
    assert isinstance(kombu_redis.Empty(), Exception)
    # TAKE writes the keys the QoS restores from: the same names on both
    assert (channel.qos.unacked_key, channel.qos.unacked_index_key) == (
        channel.unacked_key,
        channel.unacked_index_key,
    )
    assert channel._atomic_take  # the fleet's settings take with TAKE


def test_kombu_restores_what_take_held(channel: Any, redis_client: redis.Redis) -> None:
    """Whatever the digests say, the format holds: an unacked entry TAKE wrote is one
    kombu's own restore puts back on its queue, whole."""
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    channel.connection.client.Producer().publish(
        {"n": 1}, exchange=queue.exchange, routing_key=QUEUE, declare=[queue]
    )
    published = redis_client.lindex(QUEUE, 0)
    argv = [channel.unacked_key, channel.unacked_index_key, time.time()]
    argv += [take.TAKING, take.TAKING_INDEX, "call-1"]
    key, item, tag = take.run(redis_client, [QUEUE], argv)
    assert (key, item) == (QUEUE.encode(), published) and redis_client.llen(QUEUE) == 0

    channel.qos.restore_by_tag(tag.decode())
    (restored,) = (json.loads(m) for m in redis_client.lrange(QUEUE, 0, -1))
    assert redis_client.hlen(channel.unacked_key) == 0
    sent = json.loads(published or b"")
    # back whole, marked redelivered, as kombu marks what it restores
    assert restored["headers"].pop("redelivered") is True
    assert restored["properties"]["delivery_info"].pop("redelivered") is True
    assert restored == sent and sent["properties"]["delivery_tag"] == tag.decode()
