"""The report of one reconcile pass, and where the last one is kept.

The last report is stored as JSON under :data:`LAST_KEY` on the recording Redis: the
``agentq_reconcile_discrepancies{kind}`` gauge of ``/metrics``, the health component and
the page's panel read it from there (any process, no database query).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from workers.reconcile.kinds import KINDS, Findings

LAST_KEY = "agentq:reconcile:last"
MAX_EXAMPLES = 10


@dataclass(slots=True)
class ReconcileReport:
    """What one pass found and did.

    ``counts``: every kind, zero included; ``repaired``: how many of each were repaired
    (zero without ``repair``); ``examples``: up to ten findings per kind (task id, agent
    type, attempt, age, where it was last seen, why); ``actions``: what was done, in words.
    """

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    repaired: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    examples: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {k: [] for k in KINDS}
    )
    actions: dict[str, str] = field(default_factory=dict)
    repair: bool = False
    grace_s: float = 0.0
    at: float = field(default_factory=time.time)
    seconds: float = 0.0
    open_rows: int = 0
    messages: int = 0
    pages: dict[str, int] = field(default_factory=dict)
    longest_redis_command_ms: float = 0.0
    # findings put off because the record was behind the broker (caught_up.py), by kind
    deferred: dict[str, int] = field(default_factory=dict)
    recording_behind_s: float | None = None

    @classmethod
    def of(cls, findings: Findings, **kwargs: Any) -> ReconcileReport:
        report = cls(**kwargs)
        for kind, items in findings.by_kind.items():
            report.counts[kind] = len(items)
            report.examples[kind] = [f.to_json() for f in items[:MAX_EXAMPLES]]
        return report

    @property
    def awaiting_repair(self) -> int:
        """Lost tasks found and not published again."""
        return self.counts["lost"] - self.repaired["lost"]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": round(self.at, 3),
            "seconds": round(self.seconds, 3),
            "repair": self.repair,
            "grace_seconds": self.grace_s,
            "counts": dict(self.counts),
            "repaired": dict(self.repaired),
            "awaiting_repair": {"lost": self.awaiting_repair},
            "examples": {k: list(v) for k, v in self.examples.items()},
            "actions": dict(self.actions),
            "open_rows": self.open_rows,
            "messages": self.messages,
            "pages": dict(self.pages),
            "longest_redis_command_ms": round(self.longest_redis_command_ms, 3),
            "deferred": dict(self.deferred),
            "recording_behind_seconds": self.recording_behind_s,
        }


def store_last(client: Any, report: ReconcileReport) -> None:
    client.set(LAST_KEY, orjson.dumps(report.to_json()))


def read_last(client: Any) -> dict[str, Any] | None:
    """The last stored report (its JSON), or None."""
    raw = client.get(LAST_KEY)
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
