"""A recording-stream entry on the recorder's slow path: decoded strictly, entry by entry,
and the dead letter it becomes when it cannot be recorded.

An entry is one XADD of the hooks: field ``e`` holds a JSON list of wire events
(``persistence/wire.py``). A bad entry costs only itself: any exception while decoding
it makes it a dead letter with the reason, never a stuck recorder.
"""

from __future__ import annotations

from typing import Any

from persistence import wire
from persistence.errors import DataRejected
from persistence.formatting import flat, one_line
from persistence.lifecycle import Transition

REASON_MAX_CHARS = 500  # of a dead letter's reason
_INSTANCE_MARK = b'"k":"i"'  # as orjson writes it: an entry holding an instance event
Entry = tuple[bytes, dict[bytes, bytes]]
Dead = tuple[Entry, str]  # an entry and why it goes to the dead letters
Decoded = tuple[Entry, list[Transition | wire.InstanceEvent]]
Group = tuple[Entry, list[Transition]]  # an entry's transitions: recorded or refused together


def fast_path_applies(payloads: list[Any]) -> bool:
    return all(isinstance(p, bytes) and _INSTANCE_MARK not in p for p in payloads)


def decode_entries(entries: list[Entry]) -> tuple[list[Decoded], list[Dead]]:
    """Every entry decoded and checked; one that fails (in any way) is dead-lettered alone."""
    decoded: list[Decoded] = []
    dead: list[Dead] = []
    for entry in entries:
        try:
            decoded.append((entry, _decode_entry(entry)))
        except Exception as exc:  # BadEvent, or a surprise: never more than this entry
            dead.append((entry, reason_of(exc)))
    return decoded, dead


def _decode_entry(entry: Entry) -> list[Transition | wire.InstanceEvent]:
    payload = entry[1].get(b"e")
    if payload is None:
        names = b", ".join(sorted(entry[1])[:5]).decode(errors="replace")
        raise wire.BadEvent(f"entry has no 'e' field (fields: {names})")
    return wire.decode_entry(payload)


def dead_letter_fields(eid: bytes, fields: dict[bytes, bytes], reason: str) -> dict[Any, Any]:
    """The original entry as it was (other fields too, prefixed ``f.``), its id, the reason."""
    out: dict[Any, Any] = {b"f." + k: v for k, v in fields.items() if k != b"e"}
    out.update({"e": fields.get(b"e", b""), "reason": reason, "entry": eid})
    return out


def refused(exc: Exception) -> str:
    if isinstance(exc, DataRejected):
        return flat(f"rejected by the database: {exc}", REASON_MAX_CHARS)
    return reason_of(exc)


def reason_of(exc: BaseException) -> str:
    """An exception as a dead letter's reason, one printable line. A
    :class:`~persistence.wire.BadEvent` is its message (it names the field)."""
    if isinstance(exc, wire.BadEvent):
        return flat(str(exc), REASON_MAX_CHARS)
    return one_line(exc, REASON_MAX_CHARS)
