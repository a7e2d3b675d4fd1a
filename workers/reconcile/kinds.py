"""The five kinds of difference between the record and the broker (docs/reconcile.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

LOST = "lost"  # recorded queued / retrying past the grace, its message nowhere
UNRECORDED = "unrecorded"  # a message with no row
STUCK = "stuck"  # running past its hard time limit on a live worker, or on a gone worker
EXPIRED = "expired"  # open row whose message expired long ago and is still not final
REVOKED = "revoked"  # open row whose task a worker revoked, no final row
KINDS = (LOST, UNRECORDED, STUCK, EXPIRED, REVOKED)

#: Where a message can be: the agent queues (key named), the unacked set, the taking hash,
#: the dead letters.
WHERE_UNACKED = "unacked"
WHERE_TAKING = "taking"
WHERE_DEAD = "dead letters"


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference: the task, its agent type, how old, where it was last seen."""

    task_id: str
    agent_type: str
    attempt: int
    age_seconds: float
    where: str
    detail: str = ""
    status: str | None = None  # the row's status (None: no row)
    task_type: str = ""
    # stuck on a gone worker with its message nowhere: published again by a repair
    republish: bool = False

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["age_seconds"] = round(self.age_seconds, 1)
        return out


@dataclass(slots=True)
class Findings:
    """Every difference of one comparison, by kind."""

    by_kind: dict[str, list[Finding]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def add(self, kind: str, finding: Finding) -> None:
        self.by_kind[kind].append(finding)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.by_kind.items()}
