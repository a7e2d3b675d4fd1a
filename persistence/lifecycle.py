"""The lifecycle rule, as pure code: statuses, their rank, transitions and the merge.

Signals reach us from several processes, in any order, sometimes twice. Two rules
keep an execution's record right (docs/architecture.md, "The precedence rule"). This
module is the reference model: the SQL function ``agentq_record_batch``
(``persistence/sql/current/functions.sql``, its current definition) implements the same merge
set-based, and
``tests/integration/test_sql_store.py`` proves (hypothesis) that both give the same rows:

* **Current state** moves only forward: a transition replaces the stored status
  only if ``(attempt, rank(status))`` is greater than the stored pair. Terminal
  statuses share the top rank, so nothing late overwrites them.
* **History** keeps every distinct transition (deduplicated by its event id).

The SQL store applies the same rule in one guarded upsert (``persistence/sql``);
:func:`fold` is the reference the in-memory store and the property tests use.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


class TaskStatus(enum.StrEnum):
    """The integration design's ``task_status`` enum, verbatim."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRYING = "retrying"


# rank // 10 is the coarse rank of docs/architecture.md (pending 0 < queued 1 <
# running 2 < retrying 3 < terminal 4). The last digit only breaks ties between two
# terminal statuses of one attempt (completed > failed > cancelled), so that the merge
# is commutative: the same events in any order give the same row. The SQL function
# agentq_status_rank() holds the same numbers.
RANK: dict[TaskStatus, int] = {
    TaskStatus.PENDING: 0,
    TaskStatus.QUEUED: 10,
    TaskStatus.RUNNING: 20,
    TaskStatus.RETRYING: 30,
    TaskStatus.CANCELLED: 40,
    TaskStatus.FAILED: 41,
    TaskStatus.COMPLETED: 42,
}
TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
ERROR_STATUSES = frozenset({TaskStatus.FAILED, TaskStatus.RETRYING, TaskStatus.CANCELLED})

# Event ids that must be stable across a replay of the same signal are derived
# from this namespace (uuid5); the others are random (uuid4).
EVENT_NAMESPACE = uuid.UUID("6f1c1a55-4d8e-4a2b-9a53-2a8b1f0c7e11")


def stable_event_id(*parts: object) -> uuid.UUID:
    """An event id that is the same every time the same parts are given."""
    return uuid.uuid5(EVENT_NAMESPACE, ":".join(str(p) for p in parts))


@dataclass(frozen=True, slots=True)
class Transition:
    """One lifecycle event of one execution, as a hook saw it.

    ``request`` is set on the transition that carries the enqueue request (pending):
    input_data, user_id, session_id, priority, max_retries. ``result`` is set on
    terminal and retrying transitions: output_data, quality_score,
    execution_time_seconds, error_message, error_type.
    """

    event_id: uuid.UUID
    task_id: str
    status: TaskStatus
    attempt: int
    occurred_at: datetime
    agent_type: str
    task_type: str
    worker: str | None = None
    request: dict[str, Any] | None = None
    result: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[int, int, datetime]:
        """Precedence of this transition: (attempt, rank, time)."""
        return (self.attempt, RANK[self.status], self.occurred_at)

    @property
    def carries_error(self) -> bool:
        return self.status in ERROR_STATUSES


@dataclass(slots=True)
class Patch:
    """What a set of transitions of one execution contributes to its row.

    Each field group comes from the greatest transition of a subset, so patches
    combine associatively and commutatively, and :func:`merge` of a patch into a
    row is what ``agentq_record_batch_within()`` (``persistence/sql/current/functions.sql``)
    does in SQL, step 3:

    * state (status, retry_count, status_at, worker, result): the greatest
      transition by (attempt, rank, time);
    * error: the greatest error-carrying (failed / retrying / cancelled) or
      completed transition; completed clears the error;
    * started_at: the earliest ``running`` (when the execution first started);
    * worker: the worker of the state transition (None while pending / queued);
    * request: the enqueue request (pending), whenever it arrives;
    * created_at: the earliest transition; ``new_runs``: how many ``running``.
    """

    task_id: str
    agent_type: str
    task_type: str
    state: Transition
    created_at: datetime
    error: Transition | None = None
    start: Transition | None = None
    request: Transition | None = None
    new_runs: int = 0

    @classmethod
    def of(cls, t: Transition) -> Patch:
        return cls(
            task_id=t.task_id,
            agent_type=t.agent_type,
            task_type=t.task_type,
            state=t,
            created_at=t.occurred_at,
            error=t if t.carries_error or t.status is TaskStatus.COMPLETED else None,
            start=t if t.status is TaskStatus.RUNNING else None,
            request=t if t.request is not None else None,
            new_runs=1 if t.status is TaskStatus.RUNNING else 0,
        )

    def add(self, other: Patch) -> Patch:
        """The patch of both sets of transitions."""
        return Patch(
            task_id=self.task_id,
            agent_type=self.agent_type,
            task_type=self.task_type,
            state=max(self.state, other.state, key=_state_key),
            created_at=min(self.created_at, other.created_at),
            error=_greatest(self.error, other.error, _state_key),
            start=_least(self.start, other.start),
            request=self.request or other.request,
            new_runs=self.new_runs + other.new_runs,
        )


def _state_key(t: Transition) -> tuple[int, int, datetime, str]:
    return (t.attempt, RANK[t.status], t.occurred_at, str(t.event_id))


def _least(a: Transition | None, b: Transition | None) -> Transition | None:
    if a is None or b is None:
        return a or b
    return min(a, b, key=lambda t: (t.occurred_at, str(t.event_id)))


def _greatest(a: Transition | None, b: Transition | None, key: Any) -> Transition | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b, key=key)


def patches(transitions: list[Transition]) -> dict[str, Patch]:
    """One patch per execution for distinct (by event id) transitions."""
    out: dict[str, Patch] = {}
    seen: set[uuid.UUID] = set()
    for t in transitions:
        if t.event_id in seen:
            continue
        seen.add(t.event_id)
        p = Patch.of(t)
        out[t.task_id] = out[t.task_id].add(p) if t.task_id in out else p
    return out


@dataclass(slots=True)
class Execution:
    """The current state of one execution (the lifecycle columns of ``agent_executions``)."""

    task_id: str
    agent_type: str
    task_type: str
    status: TaskStatus
    retry_count: int
    status_at: datetime
    created_at: datetime
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    worker: str | None = None
    input_data: dict[str, Any] = field(default_factory=dict)
    output_data: Any = None
    quality_score: float | None = None
    execution_time_seconds: float | None = None
    error_message: str | None = None
    error_type: str | None = None
    error_key: tuple[int, int] | None = None
    user_id: str | None = None
    session_id: str | None = None
    priority: str = "normal"
    max_retries: int = 3
    attempts: int = 0
    trace_id: str | None = None  # the enqueue's OpenTelemetry trace (docs/observability.md)

    @property
    def key(self) -> tuple[int, int, datetime]:
        return (self.retry_count, RANK[self.status], self.status_at)


def merge(row: Execution | None, p: Patch) -> Execution:
    """The row after patch ``p`` (built from transitions not applied before)."""
    s = p.state
    if row is None:
        row = Execution(
            task_id=p.task_id,
            agent_type=p.agent_type,
            task_type=p.task_type,
            status=s.status,
            retry_count=s.attempt,
            status_at=s.occurred_at,
            created_at=p.created_at,
        )
        _take_state(row, s)
    else:
        row = replace(row, created_at=min(row.created_at, p.created_at))
        if s.key > row.key:
            _take_state(row, s)
    if p.start is not None:
        row.started_at = min(filter(None, (row.started_at, p.start.occurred_at)))
    if p.error is not None and (row.error_key is None or p.error.key[:2] > row.error_key):
        res = p.error.result or {}
        row.error_key = p.error.key[:2]
        row.error_message = res.get("error_message")
        row.error_type = res.get("error_type")
    if p.request is not None and row.enqueued_at is None:
        req = p.request.request or {}
        row.enqueued_at = p.request.occurred_at
        row.input_data = req.get("input_data") or {}
        row.user_id = req.get("user_id")
        row.session_id = req.get("session_id")
        row.priority = req.get("priority") or "normal"
        row.max_retries = req.get("max_retries", row.max_retries)
        row.trace_id = req.get("trace_id")
    row.attempts += p.new_runs
    return row


def _take_state(row: Execution, s: Transition) -> None:
    row.status = s.status
    row.retry_count = s.attempt
    row.status_at = s.occurred_at
    row.worker = s.worker
    res = s.result or {}
    terminal = s.status in TERMINAL
    row.completed_at = s.occurred_at if terminal else None
    row.output_data = res.get("output_data") if terminal else None
    row.quality_score = res.get("quality_score") if terminal else None
    row.execution_time_seconds = res.get("execution_time_seconds") if terminal else None


def fold(transitions: list[Transition], row: Execution | None = None) -> Execution | None:
    """Apply distinct transitions one at a time (the reference for the property tests)."""
    seen: set[uuid.UUID] = set()
    for t in transitions:
        if t.event_id in seen:
            continue
        seen.add(t.event_id)
        row = merge(row, Patch.of(t))
    return row
