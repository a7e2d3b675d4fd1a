"""The only code that calls Pusher: one ``pusher.Pusher`` client, batches of ≤ 10 events.

A call fails with :class:`PusherCallFailed` for any HTTP error, timeout or refused
connection, and also for an HTTP 200 whose body is an error (soketi answers a bad secret
that way: ``{"error": "The secret authentication failed", "code": 401}``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pusher

from workers.realtime.config import PusherConfig
from workers.realtime.payloads import Event

# Pusher's HTTP API takes at most 10 events per batch call.
MAX_BATCH_EVENTS = 10


class PusherCallFailed(RuntimeError):
    """Pusher did not take a batch; the message never holds the secret."""


def batches(events: Sequence[Event], size: int = MAX_BATCH_EVENTS) -> Iterator[list[Event]]:
    """``events`` in order, ``size`` at a time."""
    for start in range(0, len(events), size):
        yield list(events[start : start + size])


class PusherSink:
    """Triggers batches of events on Pusher (or a Pusher-protocol server such as soketi)."""

    def __init__(self, config: PusherConfig) -> None:
        self.config = config
        kwargs: dict[str, Any] = {"ssl": config.ssl, "timeout": config.timeout}
        if config.host:
            kwargs["host"] = config.host
            if config.port:
                kwargs["port"] = config.port
        else:
            kwargs["cluster"] = config.cluster
        # One client per process: it keeps a requests session (a pooled connection).
        self._client = pusher.Pusher(
            app_id=config.app_id,
            key=config.key,
            secret=config.secret.get_secret_value(),
            **kwargs,
        )

    def send(self, events: Sequence[Event]) -> None:
        """Trigger ``events`` (at most 10) in one call; raises :class:`PusherCallFailed`."""
        if len(events) > MAX_BATCH_EVENTS:
            raise ValueError(f"at most {MAX_BATCH_EVENTS} events per batch, got {len(events)}")
        # Fresh dicts: trigger_batch rewrites each event's data in place.
        batch = [{"channel": e.channel, "name": e.name, "data": e.data} for e in events]
        try:
            body = self._client.trigger_batch(batch)
        except Exception as exc:  # requests and pusher errors alike: report, never the secret
            raise PusherCallFailed(f"{type(exc).__name__}: {exc}") from None
        if isinstance(body, dict) and body.get("error"):
            raise PusherCallFailed(f"rejected ({body.get('code')}): {body['error']}")
