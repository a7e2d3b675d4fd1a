"""The comparison: the record's open rows against the broker's messages, sorted into kinds.

A pure function of what was read (:func:`compare`): no Redis, no database, so the rules
are unit-tested with the in-memory store. The rules (docs/reconcile.md):

* a row waiting for its message (``pending`` / ``queued`` / ``retrying``) for longer than
  the grace whose message is nowhere is **lost** — or **revoked** when a worker revoked
  its task (a revoked message is dropped when a worker meets it; its ``cancelled`` event
  was lost);
* a waiting row whose message is still there with an ``expires`` older than the grace is
  **expired**: no worker dropped it (none consumes its queue);
* a row ``running`` on a worker that is not online is **stuck** (the reaper's case; when
  its message is nowhere either, past the grace and its time limit, a repair publishes it
  again, as the visibility timeout would have), and
  so is one running on an online worker for longer than its hard time limit (the
  message's ``timelimit`` header when it set one, else the agent's) plus
  :data:`STUCK_SLACK_S`: Celery kills at the limit, so that worker is frozen;
* a message whose task has no row at all, first seen at least the grace ago, is
  **unrecorded**.

A message set aside in the dead letters counts as found: the row is not lost, the dead
letter says why (``agentq dead-letters``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from workers.reconcile.broker_view import Sighting
from workers.reconcile.kinds import (
    EXPIRED,
    LOST,
    REVOKED,
    STUCK,
    UNRECORDED,
    WHERE_DEAD,
    WHERE_UNACKED,
    Finding,
    Findings,
)
from workers.reconcile.record_view import WAITING_STATUSES, OpenRow

STUCK_SLACK_S = 10.0  # Celery's time-limit timer fires within a second or two of the limit


@dataclass(frozen=True, slots=True)
class Facts:
    """What one pass read, besides the rows and the messages."""

    now: float
    grace_s: float
    online_workers: frozenset[str] = frozenset()
    time_limits: Mapping[str, float] = field(default_factory=dict)  # agent type -> hard limit
    default_time_limit: float = 90.0
    visibility_timeout_s: float = 1800.0
    revoked: frozenset[str] = frozenset()
    # task ids of messages without an open row that do have a row (final ones)
    recorded: frozenset[str] = frozenset()
    # task id -> when the pass first saw its message without any row
    first_seen: Mapping[str, float] = field(default_factory=dict)


def compare(rows: Iterable[OpenRow], seen: Mapping[str, Sighting], facts: Facts) -> Findings:
    """Sort every difference between ``rows`` and ``seen`` into its kind."""
    out = Findings()
    open_ids: set[str] = set()
    for row in rows:
        open_ids.add(row.task_id)
        age = max(0.0, facts.now - row.status_at)
        msg = seen.get(row.task_id)
        if row.status in WAITING_STATUSES:
            _waiting(out, row, msg, age, facts)
        elif row.status == "running":
            _running(out, row, msg, age, facts)
    for task_id, msg in seen.items():
        if task_id in open_ids or task_id in facts.recorded or msg.where == WHERE_DEAD:
            continue
        first = facts.first_seen.get(task_id, facts.now)
        if facts.now - first >= facts.grace_s:
            out.add(
                UNRECORDED,
                Finding(
                    task_id,
                    msg.agent_type,
                    msg.attempt,
                    facts.now - first,
                    msg.where,
                    "a message whose task has no row",
                ),
            )
    return out


def _waiting(out: Findings, row: OpenRow, msg: Sighting | None, age: float, facts: Facts) -> None:
    if msg is None:
        if age <= facts.grace_s:
            return
        kind = REVOKED if row.task_id in facts.revoked else LOST
        why = (
            "revoked by a worker; its cancellation was never recorded"
            if kind == REVOKED
            else f"recorded {row.status}; its message is in no queue, unacked, taking, dead letter"
        )
        out.add(kind, _finding(row, age, "record only", why))
    elif msg.expires is not None and facts.now - msg.expires > facts.grace_s:
        why = f"its message expired {facts.now - msg.expires:.0f} s ago and is still waiting"
        out.add(EXPIRED, _finding(row, age, msg.where, why))


def _running(out: Findings, row: OpenRow, msg: Sighting | None, age: float, facts: Facts) -> None:
    worker = row.worker or "(no worker)"
    limit = facts.time_limits.get(row.agent_type, facts.default_time_limit)
    if msg is not None and msg.time_limit is not None:  # the message's own, when it set one
        limit = msg.time_limit
    if row.worker not in facts.online_workers:
        out.add(STUCK, _gone(row, msg, age, limit, facts))
        return
    if age > limit + STUCK_SLACK_S:
        why = f"running {age:.0f} s on a live worker, past its hard time limit of {limit:.0f} s"
        out.add(STUCK, _finding(row, age, worker, why))


def _gone(row: OpenRow, msg: Sighting | None, age: float, limit: float, facts: Facts) -> Finding:
    """A run on a worker that is not online: what will happen to it."""
    worker = row.worker or "(no worker)"
    if msg is not None and msg.where == WHERE_UNACKED:
        why = (
            "its worker is gone; the message is in unacked and returns to its queue "
            f"after the visibility timeout ({facts.visibility_timeout_s:.0f} s)"
        )
        return _finding(row, age, worker, why)
    if msg is not None:
        why = f"its worker is gone; the message is back on {msg.where} and will run again"
        return _finding(row, age, worker, why)
    reaper = (
        "the reaper fails it 'worker lost' at its next run"
        if age > facts.visibility_timeout_s
        else f"the reaper fails it 'worker lost' in {facts.visibility_timeout_s - age:.0f} s"
    )
    if age > max(facts.grace_s, limit + STUCK_SLACK_S):
        # nothing will bring it back: a repair does what the visibility timeout would have
        why = f"its worker is gone, its message nowhere: a repair publishes it again; else {reaper}"
        return replace(_finding(row, age, worker, why), republish=True)
    return _finding(row, age, worker, f"its worker is gone; {reaper}")


def _finding(row: OpenRow, age: float, where: str, detail: str) -> Finding:
    return Finding(
        row.task_id, row.agent_type, row.attempt, age, where, detail, row.status, row.task_type
    )
