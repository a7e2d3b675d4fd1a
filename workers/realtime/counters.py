"""What the bridge has done so far (``get_status()``). One writer: the bridge's loop.

Books balance: ``received + resynced == coalesced + filtered + published + pending``
(rows), and ``events == forwarded + dropped`` (Pusher events; an execution with a user
makes two: its table's channel and the user's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Counters:
    received: int = 0  # row changes announced: notifications and catch-up reads
    coalesced: int = 0  # ... that joined a change of the same row already waiting
    filtered: int = 0  # rows kept back: table/status filters, or the row is gone
    published: int = 0  # rows that became events
    resynced: int = 0  # rows sent again after Pusher came back (their events were dropped)
    events: int = 0  # Pusher events built
    forwarded: int = 0  # ... that Pusher took
    dropped: int = 0  # ... that it did not: a failed call, or the breaker open
    trimmed: int = 0  # events cut to ids + status to fit Pusher's 10 KB
    batches: int = 0  # Pusher API calls made (≤ 10 events each)
    api_errors: int = 0  # ... that failed
    handler_errors: int = 0  # custom handlers that raised
    reconnects: int = 0  # LISTEN connections (re)opened after a loss
    catchups: int = 0  # catch-up reads after a reconnect
    lag_seconds: float | None = None  # last flush: oldest change's updated_at → pushed
    max_lag_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def note_lag(self, lag: float) -> None:
        self.lag_seconds = lag
        self.max_lag_seconds = max(lag, self.max_lag_seconds or 0.0)
