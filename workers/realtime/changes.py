"""Changes waiting for the next flush: one entry per row, in order of first appearance.

Several notifications of one row inside a batch window coalesce into one entry; the
row is fetched once, at flush time, so what goes out is its latest committed state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]  # (table, row id)


@dataclass(frozen=True)
class Change:
    """A committed change as handlers see it: the table, the current row (JSON-ready
    values) and the Pusher payload built from it (None when filters keep it back)."""

    table: str
    row: dict[str, Any]
    payload: dict[str, Any] | None = None


@dataclass
class PendingChanges:
    """Keys to fetch and push at the next flush (an ordered set)."""

    _keys: dict[Key, None] = field(default_factory=dict)

    def add(self, table: str, ids: Iterable[str]) -> tuple[int, int]:
        """Add row ids of ``table``; returns (received, coalesced into an entry already here)."""
        received = coalesced = 0
        for row_id in ids:
            received += 1
            key = (table, row_id)
            if key in self._keys:
                coalesced += 1
            else:
                self._keys[key] = None
        return received, coalesced

    def restore(self, keys: Iterable[Key]) -> int:
        """Put keys back (not counted as received); returns how many were not here yet."""
        added = 0
        for key in keys:
            if key not in self._keys:
                self._keys[key] = None
                added += 1
        return added

    def take(self) -> list[Key]:
        """Every pending key, oldest first; the set is empty afterwards."""
        keys = list(self._keys)
        self._keys.clear()
        return keys

    def __len__(self) -> int:
        return len(self._keys)


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_notification(payload: str) -> tuple[str, list[str]] | None:
    """``'<table>:<id>,<id>'`` (persistence/sql/0003_realtime.sql) → (table, ids).
    Anyone connected may NOTIFY the channel: what is not a list of UUIDs is refused here,
    before it could spoil a fetch of good ids."""
    table, sep, ids = payload.partition(":")
    parts = ids.split(",") if sep and ids else []
    if not parts or not all(_UUID.match(p) for p in parts):
        return None
    return table, parts
