"""The mirror's outbox: writes the Supabase mirror missed, kept in the primary.

``mirror_outbox`` (revision 0005) holds one row per missed store call, in the order
they happened: ``record`` (a batch of transitions), ``instances`` (a worker's own
status), ``heartbeat`` and ``call`` (a service call such as
``update_agent_instance``). Beat
replays them in id order (:func:`replay`), in bounded chunks, one replayer at a time
(an advisory lock). Replaying is idempotent: the lifecycle merge ignores known event
ids and commutes, the other calls are upserts by natural key, beat's rows carry the
primary's ids and its deletes name their keys. A row the mirror
refuses for its *data* (DataRejected) is kept, marked dead, and skipped; a mirror
that cannot be reached stops the replay until the next run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from persistence.errors import DataRejected, wrap_db_errors
from persistence.formatting import one_line
from persistence.sql import queries
from persistence.sql_store import EngineSource, engine_of

logger = logging.getLogger(__name__)

OP_RECORD = "record"
OP_INSTANCES = "instances"
OP_CALL = "call"
OP_HEARTBEAT = "heartbeat"
# Beat's effects (persistence/mirror_effects.py): metric and health rows, the reaper's
# offline marks, retention's deletes.
OP_METRICS = "metrics"
OP_HEALTH = "health"
OP_OFFLINE = "offline"
OP_PURGE = "purge"
EFFECT_OPS = frozenset({OP_METRICS, OP_HEALTH, OP_OFFLINE, OP_PURGE})
# Only one replayer at a time keeps the order; another one simply skips its run.
_REPLAY_LOCK = 7_345_100_105
# Consecutive 'record' rows are replayed as one batch of at most this many transitions.
MAX_GROUP_ITEMS = 2000

Apply = Callable[[str, list[dict[str, Any]]], None]
SQL_FILE = "outbox.sql"


def _q(name: str) -> str:
    return queries(SQL_FILE)[name]


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    op: str
    payload: dict[str, Any]
    items: int


@dataclass
class ReplayResult:
    replayed: int = 0
    dead: int = 0
    remaining: int = 0
    complete: bool = True
    busy: bool = False
    error: str | None = None
    dead_ids: list[int] = field(default_factory=list)


def _exists(conn: Connection) -> bool:
    return bool(conn.exec_driver_sql(_q("table_exists")).scalar())


# --- writing -----------------------------------------------------------------------
def append(engine: EngineSource, op: str, payload: dict[str, Any], items: int = 1) -> None:
    """Keep one missed call for replay (in the primary; raises the store's errors)."""
    body = json.dumps(payload, separators=(",", ":"), default=str)
    with wrap_db_errors(), engine_of(engine).begin() as conn:
        conn.exec_driver_sql(_q("append"), {"op": op, "p": body, "n": items})


# --- reading -----------------------------------------------------------------------
def backlog(engine: EngineSource) -> int:
    """Rows waiting for replay (dead ones excluded); 0 when the table does not exist."""
    with wrap_db_errors(), engine_of(engine).connect() as conn:
        if not _exists(conn):
            return 0
        return int(conn.exec_driver_sql(_q("backlog")).scalar_one())


def has_backlog(engine: EngineSource) -> bool:
    """Whether anything waits for replay (cheap: one index probe)."""
    with wrap_db_errors(), engine_of(engine).connect() as conn:
        return bool(conn.exec_driver_sql(_q("has_backlog")).scalar())


def stats(engine: EngineSource) -> dict[str, Any]:
    """Backlog (rows and the transitions / calls in them), dead rows, the oldest
    waiting row's age in seconds and the last replay error."""
    with wrap_db_errors(), engine_of(engine).connect() as conn:
        if not _exists(conn):
            return {"backlog": 0, "backlog_items": 0, "dead": 0, "oldest_age_seconds": None}
        row = dict(conn.exec_driver_sql(_q("stats")).mappings().one())
    age = row["oldest_age_seconds"]
    row["oldest_age_seconds"] = None if age is None else round(float(age), 3)
    row["backlog_items"] = int(row["backlog_items"])
    return row


# --- replay ------------------------------------------------------------------------
def replay(
    engine: EngineSource, apply: Apply, *, chunk: int = 200, budget_s: float = 20.0
) -> ReplayResult:
    """Apply waiting rows to the mirror in id order, ``chunk`` rows per transaction,
    until none is left, the mirror fails, or ``budget_s`` is spent.

    ``apply(op, payloads)`` writes to the mirror: several consecutive ``record``
    payloads come as one call. It raises :class:`DataRejected` for data the mirror
    refuses (the row is marked dead) and anything else when the mirror cannot take
    it now (the replay stops; the row's ``attempts`` and ``last_error`` say why).
    """
    out = ReplayResult()
    deadline = time.monotonic() + budget_s
    eng = engine_of(engine)
    while time.monotonic() < deadline:
        with wrap_db_errors(), eng.begin() as conn:
            if not conn.exec_driver_sql(_q("try_replay_lock"), {"k": _REPLAY_LOCK}).scalar():
                out.busy = True
                break
            entries = _next_entries(conn, chunk)
            if not entries:
                break
            stopped = _apply_chunk(conn, entries, apply, out)
        if stopped:
            break
    out.remaining = backlog(eng)
    out.complete = out.remaining == 0
    return out


def _next_entries(conn: Connection, chunk: int) -> list[Entry]:
    rows = conn.exec_driver_sql(_q("next_entries"), {"n": int(chunk)}).all()
    return [Entry(int(r[0]), str(r[1]), dict(r[2]), int(r[3])) for r in rows]


def _groups(entries: Sequence[Entry]) -> list[list[Entry]]:
    """Consecutive ``record`` rows together (bounded), every other row alone."""
    out: list[list[Entry]] = []
    for e in entries:
        last = out[-1] if out else None
        if (
            last is not None
            and e.op == OP_RECORD
            and last[0].op == OP_RECORD
            and sum(x.items for x in last) + e.items <= MAX_GROUP_ITEMS
        ):
            last.append(e)
        else:
            out.append([e])
    return out


def _apply_chunk(conn: Connection, entries: list[Entry], apply: Apply, out: ReplayResult) -> bool:
    """Apply ``entries`` group by group; True when the mirror failed (stop)."""
    for group in _groups(entries):
        try:
            _apply_group(conn, group, apply, out)
        except Exception as exc:  # the mirror is down or slow: keep the rows, stop here
            out.error = one_line(exc)
            conn.exec_driver_sql(_q("note_failure"), {"err": out.error, "id": group[0].id})
            logger.warning(
                "outbox replay stopped: %s", out.error, extra={"action": "outbox_replay_stopped"}
            )
            return True
    return False


def _apply_group(conn: Connection, group: list[Entry], apply: Apply, out: ReplayResult) -> None:
    try:
        apply(group[0].op, [e.payload for e in group])
        done = [e.id for e in group]
    except DataRejected as exc:
        if len(group) > 1:  # find the bad row(s): one at a time
            for e in group:
                _apply_group(conn, [e], apply, out)
            return
        _mark_dead(conn, group[0], one_line(exc), out)
        return
    conn.exec_driver_sql(_q("delete_replayed"), {"ids": done})
    out.replayed += len(done)


def _mark_dead(conn: Connection, e: Entry, error: str, out: ReplayResult) -> None:
    conn.exec_driver_sql(_q("mark_dead"), {"err": error, "id": e.id})
    out.dead += 1
    out.dead_ids.append(e.id)
    logger.error(
        "outbox row %d refused by the mirror: %s", e.id, error, extra={"action": "outbox_dead"}
    )
