"""Has the recorder caught up with a moment? The record can only be compared with the
broker for what the recorder has written.

Every transition reaches PostgreSQL through the recording stream, and a recorder deletes
an entry once its batch is committed, so the stream's oldest entry is the oldest
transition not yet in the record. After a PostgreSQL outage, or under a load the
recorders do not keep up with, the record is behind: a task that ran and finished still
reads ``queued`` (its message is gone: it would look lost), and a message published a
while ago has no row yet (it would look unrecorded). So before a task is called lost or
unrecorded, the pass waits until every entry up to the moment it looked at the broker —
plus :data:`SETTLE_S`, for a hook's XADD sent just after its moment — has been recorded;
if the recorders are still behind after :data:`WAIT_S`, those findings are deferred to
the next pass and the report says how far behind the record is.

Times are the recording Redis's clock (``TIME``), the clock of the stream's entry ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SETTLE_S = 1.0  # how late an event may reach the stream after its moment
WAIT_S = 10.0  # how long one pass waits for the recorders
POLL_S = 0.2


def stream_now_ms(client: Any) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def oldest_entry_ms(client: Any, stream: str) -> int | None:
    """The time of the stream's oldest entry (the oldest unrecorded transition)."""
    entries = client.xrange(stream, count=1)
    if not entries:
        return None
    entry_id = entries[0][0]
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-", 1)[0])


def behind_s(client: Any, stream: str) -> float:
    """How far behind the record is now: the age of the stream's oldest entry (0: none)."""
    oldest = oldest_entry_ms(client, stream)
    return 0.0 if oldest is None else round((stream_now_ms(client) - oldest) / 1000, 1)


def behind_after_wait(
    client: Any,
    stream: str,
    moment_ms: int,
    *,
    settle_s: float = SETTLE_S,
    wait_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> float | None:
    """Wait until every entry up to ``moment_ms`` + ``settle_s`` is recorded: None when
    it is, else how many seconds behind the record still is after ``wait_s`` (default
    :data:`WAIT_S`)."""
    wait_s = WAIT_S if wait_s is None else wait_s
    target = moment_ms + int(settle_s * 1000)
    deadline = clock() + wait_s
    while True:
        now = stream_now_ms(client)
        oldest = oldest_entry_ms(client, stream)
        if now > target and (oldest is None or oldest > target):
            return None
        if clock() >= deadline:
            return round((now - (oldest if oldest is not None else now)) / 1000, 1)
        sleep(POLL_S)
