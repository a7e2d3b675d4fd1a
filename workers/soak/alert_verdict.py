"""The soak's alert verdict (``agentq soak --alerts``): did each fault raise the alerts
it must raise while it lasted, and is nothing firing once the fleet has converged?

Pure: it judges a recorded timeline (when each alert fired, from Prometheus' ``ALERTS``
series, in seconds after the load started) against the faults' windows, so that it is
tested on made-up timelines without a fleet. :mod:`workers.soak.monitoring` records the
timeline of a real run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Per fault kind: groups of alerts; each group must have one of its alerts firing during
# the fault (any of them: a killed worker shows as stalled or as a queue nobody reads,
# depending on what else consumes its queues).
EXPECTED: dict[str, tuple[tuple[str, ...], ...]] = {
    "postgres_down": (
        ("AgentqDatabaseUnavailable",),
        ("AgentqRecordingLagHigh", "AgentqRecordingStalled"),
    ),
    "kill_worker": (("AgentqWorkerStalled", "AgentqNoWorkerForQueue", "AgentqWorkerDown"),),
    "partition": (("AgentqWorkerStalled", "AgentqNoWorkerForQueue", "AgentqWorkerDown"),),
    "poison": (("AgentqDeadLettersRising",),),
}

# Alerts that may still fire when the fleet has converged, and why: their expression
# looks back further than a soak lasts, so they still (rightly) see what happened.
LINGERING: dict[str, str] = {
    "AgentqDeadLettersRising": "looks back 15 minutes: the poison fault's dead letters",
    "AgentqErrorRateHigh": "burn-rate windows of 5 minutes and more: the plan fails "
    "about 14 % of tasks (60 % of quizzes) on purpose",
}

# How long after a fault ends its alert may still begin firing: a scrape, a rule
# evaluation and the timeline's step (faults whose alerts need a ``for:`` are held until
# the alerts fire, see ``hold_until`` in workers/soak/run.py; this covers instant faults).
GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Firing:
    """One stretch of time during which an alert fired (``end`` None: still firing)."""

    alertname: str
    start: float
    end: float | None
    labels: tuple[tuple[str, str], ...] = ()

    def overlaps(self, start: float, end: float) -> bool:
        return self.start <= end and (self.end is None or self.end >= start)

    def firing_at(self, t: float) -> bool:
        return self.start <= t and (self.end is None or self.end >= t)


@dataclass(frozen=True)
class Window:
    """A fault's window, in seconds after the load started."""

    kind: str
    start: float
    end: float


@dataclass
class AlertVerdict:
    raised: dict[str, list[str]] = field(default_factory=dict)  # fault -> alerts it raised
    missing: list[str] = field(default_factory=list)  # one sentence per group not raised
    still_firing: list[str] = field(default_factory=list)  # alerts firing after convergence
    lingering: list[str] = field(default_factory=list)  # LINGERING ones, with the reason
    unknown: list[str] = field(default_factory=list)  # expected groups with no rule at all

    @property
    def ok(self) -> bool:
        return not (self.missing or self.still_firing or self.unknown)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.ok,
            "raised": self.raised,
            "missing": self.missing,
            "still_firing": self.still_firing,
            "lingering": self.lingering,
            "no_rule": self.unknown,
        }


def label_key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """An alert's identity: its labels (the series' name aside), sorted."""
    return tuple(sorted((k, v) for k, v in metric.items() if k != "__name__"))


def intervals(series: Iterable[dict[str, Any]], t0: float, step: float) -> list[Firing]:
    """``ALERTS{alertstate="firing"}`` from a Prometheus range query (``result`` of
    ``/api/v1/query_range``) as stretches of firing, in seconds after ``t0`` (wall).
    Samples more than two steps apart belong to separate stretches. Every stretch ends at
    its last sample; :func:`close` marks those still firing as ongoing."""
    out: list[Firing] = []
    for s in series:
        metric = s.get("metric", {})
        name = metric.get("alertname", "?")
        labels = label_key(metric)
        times = sorted(float(t) - t0 for t, _ in s.get("values", []))
        start = prev = None
        for t in times:
            if start is None or prev is None:
                start = prev = t
            elif t - prev > 2 * step:
                out.append(Firing(name, start, prev, labels))
                start = prev = t
            else:
                prev = t
        if start is not None and prev is not None:
            out.append(Firing(name, start, prev, labels))
    return sorted(out, key=lambda f: (f.start, f.alertname))


def close(timeline: list[Firing], ongoing: set[tuple[tuple[str, str], ...]]) -> list[Firing]:
    """The last stretch of each alert firing now (its labels in ``ongoing``, from an
    instant query) is still going on: its end is None."""
    last: dict[tuple[tuple[str, str], ...], int] = {}
    for i, f in enumerate(timeline):
        if f.labels in ongoing:
            last[f.labels] = i
    return [
        Firing(f.alertname, f.start, None, f.labels) if last.get(f.labels) == i else f
        for i, f in enumerate(timeline)
    ]


def judge(
    faults: list[Window],
    timeline: list[Firing],
    settled_at: float,
    rules: set[str],
    grace: float = GRACE_SECONDS,
) -> AlertVerdict:
    """``faults``: the injected faults; ``timeline``: every stretch of firing;
    ``settled_at``: when the fleet had converged (and the alerts had time to resolve);
    ``rules``: the alert names the rules file defines."""
    v = AlertVerdict()
    for fault in faults:
        for group in EXPECTED.get(fault.kind, ()):
            known = [a for a in group if a in rules]
            if not known:
                v.unknown.append(f"{fault.kind}: no rule for any of {', '.join(group)}")
                continue
            fired = sorted(
                {
                    f.alertname
                    for f in timeline
                    if f.alertname in known and f.overlaps(fault.start, fault.end + grace)
                }
            )
            if fired:
                v.raised.setdefault(fault.kind, []).extend(fired)
            else:
                v.missing.append(
                    f"{fault.kind} ({fault.start:.0f}-{fault.end:.0f} s): none of "
                    f"{' / '.join(known)} fired"
                )
    for f in timeline:
        if not f.firing_at(settled_at):
            continue
        where = ", ".join(
            f"{k}={val}" for k, val in f.labels if k not in ("alertname", "alertstate")
        )
        text = f"{f.alertname} ({where}) firing since {f.start:.0f} s"
        if f.alertname in LINGERING:
            v.lingering.append(f"{text}: {LINGERING[f.alertname]}")
        else:
            v.still_firing.append(text)
    return v
