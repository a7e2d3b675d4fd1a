"""The reconciler's part of the soak's verdict.

The soak's beat runs the reconciler with repair on and a short grace (:func:`beat_env`),
so that tasks the broker lost (the ``broker_loss`` fault, a SIGKILLed Redis) are
published again while the run lasts. The verdict then asks two things of it:

* every task ``broker_loss`` deleted from a queue was repaired (its history shows the
  reconciler's redelivery) — and, with the rest of the verdict, ended final and right;
* a last ``agentq reconcile`` over the converged fleet, without repair, finds no
  discrepancy of any kind (:func:`final_check`); otherwise the run fails naming the kinds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.reconcile.repair import RECONCILED, REDELIVERED

# How often the soak's beat runs the reconciler (seconds), and its grace in visibility
# timeouts: longer than a message spends between the queue and the unacked set, and
# than the fleet's restore of a dead worker's messages (one visibility timeout, plus
# kombu's 10 s scan).
INTERVAL_S = 5
GRACE_VISIBILITY_TIMEOUTS = 3
FINAL_TIMEOUT_S = 180.0


def grace(visibility_timeout: int) -> int:
    return GRACE_VISIBILITY_TIMEOUTS * visibility_timeout


def beat_env(visibility_timeout: int) -> dict[str, str]:
    """What the fleet's workers and beat read: repair on, a period and grace fit to the run."""
    return {
        "AGENTQ_RECONCILE_INTERVAL": str(INTERVAL_S),
        "AGENTQ_RECONCILE_REPAIR": "true",
        "AGENTQ_RECONCILE_GRACE": str(grace(visibility_timeout)),
    }


# The error_type of the transitions the reconciler records: a lost task published again,
# a row created from a message that had none.
REPAIR_TYPES = (REDELIVERED, RECONCILED)


def is_repair(event: Mapping[str, Any]) -> bool:
    """A history event the reconciler wrote when it repaired the task."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return False
    message = str(detail.get("error_message") or "")
    return detail.get("error_type") in REPAIR_TYPES or "by the reconciler" in message


def repaired(histories: Mapping[str, list[dict[str, Any]]], ids: Iterable[str]) -> list[str]:
    """Which of ``ids`` the reconciler repaired (by their histories)."""
    return [t for t in ids if any(is_repair(e) for e in histories.get(t, []))]


@dataclass
class FinalCheck:
    counts: dict[str, int] = field(default_factory=dict)
    examples: Any = None
    error: str | None = None

    @property
    def discrepancies(self) -> dict[str, int]:
        """The kinds found, with their counts (none in a converged fleet)."""
        return {kind: n for kind, n in self.counts.items() if n}

    @property
    def ok(self) -> bool:
        return self.error is None and not self.discrepancies

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"counts": self.counts, "discrepancies": self.discrepancies}
        if self.discrepancies:
            out["examples"] = self.examples
        if self.error:
            out["error"] = self.error
        return out


def parse(stdout: str, returncode: int, stderr: str = "") -> FinalCheck:
    """``agentq reconcile --json``'s output as a :class:`FinalCheck`; an output without
    counts is an error (the check failed, it did not pass)."""
    try:
        report = json.loads(stdout)
        counts = report["counts"]
        if not isinstance(counts, dict):
            raise TypeError(f"counts is {type(counts).__name__}, not an object")
        return FinalCheck({str(k): int(v) for k, v in counts.items()}, report.get("examples"))
    except (ValueError, TypeError, KeyError) as exc:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        return FinalCheck(
            error=f"agentq reconcile exited {returncode} without a report ({exc}): "
            + " | ".join(tail)
        )


def final_check(env: Mapping[str, str], grace_s: int) -> FinalCheck:
    """``agentq reconcile --json`` (no repair) against the soak's fleet, from the root
    namespace (the soak's PostgreSQL and Redis are on the bridge)."""
    argv = [sys.executable, "-m", "workers.cli", "reconcile", "--json", "--grace", str(grace_s)]
    try:
        proc = subprocess.run(
            argv,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=FINAL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return FinalCheck(error=f"agentq reconcile did not answer within {FINAL_TIMEOUT_S:.0f} s")
    return parse(proc.stdout, proc.returncode, proc.stderr)


def needless(repaired_ids: Iterable[str], deleted: Mapping[str, list[str]]) -> list[str]:
    """Tasks the reconciler repaired that broker_loss never deleted: in a run where Redis
    loses nothing else (no ``--redis-kill``), each is a task published again that was
    not lost (it ran twice) or a row made for a message that had one coming."""
    gone = {t for ids in deleted.values() for t in ids}
    return sorted(t for t in repaired_ids if t not in gone)


def problems(
    unrepaired: list[str], final: FinalCheck | None, not_lost: list[str] | None = None
) -> list[str]:
    """Why the reconciler's part of the verdict fails, naming what (empty: it passes)."""
    out = []
    if not_lost:
        out.append(
            f"{len(not_lost)} task(s) the reconciler repaired were never lost: "
            f"{', '.join(not_lost[:5])}"
        )
    if unrepaired:
        out.append(
            f"{len(unrepaired)} task(s) broker_loss deleted from a queue were never "
            f"repaired: {', '.join(unrepaired[:5])}"
        )
    if final is None:
        out.append("the final reconcile did not run")
    elif final.error:
        out.append(f"the final reconcile failed: {final.error}")
    elif final.discrepancies:
        found = ", ".join(f"{kind} {n}" for kind, n in sorted(final.discrepancies.items()))
        out.append(f"the final reconcile over the converged fleet found: {found}")
    return out
