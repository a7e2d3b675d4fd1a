"""Roblox analytics agent (``roblox_analytics``): engagement metrics from gameplay events.

Input: ``events`` (1-100,000), each with a ``type`` (session_start, session_end,
quiz_answer, checkpoint, lesson_complete), ``user_id``, ``session_id`` and
``timestamp`` (an ISO datetime, naive meaning UTC, or epoch seconds, also as a numeric
string); a quiz_answer also needs ``question_id`` and ``correct`` (``answer``
optional), a checkpoint needs ``checkpoint`` (a number). Optional: ``funnel``
(ordered steps: checkpoint numbers or event type names; default ``session_start``,
every checkpoint seen in ascending order, ``lesson_complete``), ``anomaly_z`` (default
3.0) and ``min_attempts`` (default 5).

Task types: ``engagement`` (everything below) and ``quiz_report`` (questions, users and
the quiz anomalies only: ``sessions`` and ``funnel`` are ``None``).

How it works. An event identical to an earlier one (all fields) is a
``duplicate_event`` and is dropped. A session is a (user_id, session_id) pair: its
start is its earliest session_start and its end its latest session_end; any other
start or end is a ``repeated_session_event`` and is dropped. A session with both is
complete unless its duration is negative or over 24 h (``impossible_duration``: its
start and end are dropped); one lacking either is incomplete. Dropped events are the
invalid ones; all metrics use the valid events only.

* Session lengths (complete sessions, minutes rounded to 2 places): count, mean,
  median, p90 (linear interpolation between closest ranks), min, max and a histogram
  with buckets 0-5, 5-10, 10-15, 15-30, 30-60, 60-120 and 120+ minutes ([low, high)).
  With 3+ of them, a session whose |z-score| (population standard deviation) exceeds
  ``anomaly_z`` is a ``session_length_outlier`` (kept in the statistics).
* Funnel: per step, the users who reached it (``users_reached``) and those who reached
  it and every earlier step (``users``), with conversion from the previous and from the
  first step (``users`` ratios, 4 places; ``None`` after a step of 0 users).
* Questions: attempts, correct, accuracy, distinct users; with ``min_attempts`` or more
  attempts, accuracy < 0.3 is flagged ``too_hard`` and > 0.95 ``too_easy``.
* Users: sessions, complete sessions, total minutes, answers, accuracy, checkpoints,
  lessons completed, funnel steps reached in order, anomalies.
* ``too_fast_answers``: a user whose consecutive quiz answers (by time, all sessions)
  come less than 1 s apart, once per user with the count and the fastest gap.

Anomalies carry a reason and event indices (positions in ``events``); at most 1,000 are
listed, ``anomaly_counts`` counts them all by kind.

Quality rubric (data quality, the same for both task types; score in [0, 1], rounded
to 4 places, breakdown in the output):

* valid_events (weight 0.5): valid events / events.
* complete_sessions (weight 0.3): complete sessions / sessions.
* enough_data (weight 0.2): mean of min(1, users / 10) and min(1, complete sessions / 20).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

from tasks.registry import AgentResult, AgentSpec, register

TASK_TYPES: tuple[str, ...] = ("engagement", "quiz_report")
RUBRIC_WEIGHTS: dict[str, float] = {
    "valid_events": 0.5,
    "complete_sessions": 0.3,
    "enough_data": 0.2,
}
ENOUGH_USERS, ENOUGH_SESSIONS = 10, 20
MAX_SESSION_SECONDS = 24 * 3600
MIN_ANSWER_GAP_SECONDS = 1.0
TOO_HARD, TOO_EASY = 0.3, 0.95
MAX_ANOMALIES, MAX_INDICES = 1000, 20
HISTOGRAM_EDGES: tuple[int, ...] = (0, 5, 10, 15, 30, 60, 120)  # minutes; the last is open
QUIZ_ANOMALIES = frozenset({"too_fast_answers", "duplicate_event"})

EventType = Literal["session_start", "session_end", "quiz_answer", "checkpoint", "lesson_complete"]
AnomalyKind = Literal[
    "duplicate_event",
    "repeated_session_event",
    "impossible_duration",
    "session_length_outlier",
    "too_fast_answers",
]
_NUMBER = re.compile(r"^\s*[-+]?\d+(?:\.\d*)?\s*$")  # epoch seconds given as a string
Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Event(BaseModel):
    """One gameplay / learning event."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: EventType
    user_id: Id
    session_id: Id
    timestamp: float = Field(allow_inf_nan=False)
    question_id: Id | None = None
    correct: bool | None = None
    answer: JsonValue = None
    checkpoint: int | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _epoch_seconds(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("timestamp must be an ISO datetime or epoch seconds")
        if isinstance(value, str):
            try:
                value = float(value) if _NUMBER.match(value) else datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"timestamp {value!r} is not an ISO datetime") from None
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        return value

    @model_validator(mode="after")
    def _type_fields(self) -> Event:
        quiz, checkpoint = self.type == "quiz_answer", self.type == "checkpoint"
        missing = [n for n in ("question_id", "correct") if quiz and getattr(self, n) is None]
        if missing:
            raise ValueError(f"a quiz_answer event needs {' and '.join(map(repr, missing))}")
        if checkpoint and self.checkpoint is None:
            raise ValueError("a checkpoint event needs 'checkpoint'")
        quiz_fields = ("question_id", "correct", "answer")
        extra = [] if quiz else [n for n in quiz_fields if getattr(self, n) is not None]
        if not checkpoint and self.checkpoint is not None:
            extra.append("checkpoint")
        if extra:
            raise ValueError(f"a {self.type} event does not take {', '.join(extra)}")
        return self


class AnalyticsInput(BaseModel):
    """Validated input of the roblox analytics agent."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1, max_length=100_000)
    funnel: list[int | EventType] | None = Field(default=None, min_length=1, max_length=50)
    anomaly_z: float = Field(default=3.0, gt=0, le=20)
    min_attempts: int = Field(default=5, ge=1, le=100_000)

    @field_validator("funnel")
    @classmethod
    def _distinct_steps(cls, value: list[int | str] | None) -> list[int | str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("funnel steps must be distinct")
        return value


class Bucket(BaseModel):
    label: str
    min_minutes: int
    max_minutes: int | None
    count: int


class SessionStats(BaseModel):
    sessions: int
    complete: int
    incomplete: int
    impossible: int
    mean_minutes: float | None
    median_minutes: float | None
    p90_minutes: float | None
    min_minutes: float | None
    max_minutes: float | None
    histogram: list[Bucket]


class FunnelStep(BaseModel):
    step: str
    users_reached: int
    users: int
    conversion_from_previous: float | None
    conversion_from_start: float | None


class QuestionStats(BaseModel):
    question_id: str
    attempts: int
    correct: int
    accuracy: float
    users: int
    flag: Literal["too_hard", "too_easy"] | None


class UserSummary(BaseModel):
    user_id: str
    sessions: int
    complete_sessions: int
    total_minutes: float
    quiz_answers: int
    correct_answers: int
    accuracy: float | None
    checkpoints: int
    lessons_completed: int
    funnel_steps: int
    anomalies: int


class Anomaly(BaseModel):
    kind: AnomalyKind
    user_id: str
    session_id: str | None
    event_indices: list[int]
    reason: str


class EventCounts(BaseModel):
    total: int
    valid: int
    invalid: int
    by_type: dict[str, int]


class AnalyticsReport(BaseModel):
    """Output of the roblox analytics agent."""

    task_type: str
    events: EventCounts
    users: int
    sessions: SessionStats | None
    funnel: list[FunnelStep] | None
    questions: list[QuestionStats]
    user_summaries: list[UserSummary]
    anomalies: list[Anomaly]
    anomaly_counts: dict[str, int]
    quality_breakdown: dict[str, float]


@dataclass(slots=True)
class Session:
    user_id: str
    session_id: str
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    minutes: float | None = None  # set for a complete session
    impossible: bool = False


def _anomaly(
    kind: AnomalyKind, user: str, session: str | None, idx: list[int], why: str
) -> Anomaly:
    return Anomaly(
        kind=kind, user_id=user, session_id=session, event_indices=idx[:MAX_INDICES], reason=why
    )


def find_duplicates(events: list[Event]) -> tuple[set[int], list[Anomaly]]:
    """Indices of events identical to an earlier one, and their anomalies."""
    first: dict[str, int] = {}
    dropped: set[int] = set()
    anomalies = []
    for i, event in enumerate(events):
        key = event.model_dump_json()
        j = first.setdefault(key, i)
        if j != i:
            dropped.add(i)
            why = f"events[{i}] repeats events[{j}] ({event.type})"
            anomalies.append(_anomaly("duplicate_event", event.user_id, event.session_id, [i], why))
    return dropped, anomalies


def build_sessions(
    events: list[Event], dropped: set[int]
) -> tuple[dict[tuple[str, str], Session], list[Anomaly]]:
    """Sessions by (user, session id); adds repeated and impossible events to ``dropped``."""
    sessions: dict[tuple[str, str], Session] = {}
    for i, e in enumerate(events):
        if i not in dropped:
            s = sessions.setdefault((e.user_id, e.session_id), Session(e.user_id, e.session_id))
            if e.type in ("session_start", "session_end"):
                (s.starts if e.type == "session_start" else s.ends).append(i)
    anomalies = []
    for s in sessions.values():
        s.starts.sort(key=lambda i: (events[i].timestamp, i))
        s.ends.sort(key=lambda i: (-events[i].timestamp, i))
        extra = s.starts[1:] + s.ends[1:]
        if extra:
            dropped.update(extra)
            why = f"{len(extra)} extra session_start/session_end event(s) ignored"
            anomalies.append(
                _anomaly("repeated_session_event", s.user_id, s.session_id, sorted(extra), why)
            )
        if s.starts and s.ends:
            seconds = events[s.ends[0]].timestamp - events[s.starts[0]].timestamp
            if 0 <= seconds <= MAX_SESSION_SECONDS:
                s.minutes = seconds / 60
                continue
            s.impossible = True
            dropped.update((s.starts[0], s.ends[0]))
            why = f"session lasts {seconds / 3600:.2f} h: negative or over 24 h"
            idx = [s.starts[0], s.ends[0]]
            anomalies.append(_anomaly("impossible_duration", s.user_id, s.session_id, idx, why))
    return sessions, anomalies


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def session_stats(sessions: list[Session]) -> SessionStats:
    """Counts, length statistics (minutes, 2 places) and histogram of the sessions."""
    minutes = [s.minutes for s in sessions if s.minutes is not None]
    buckets = []
    for low, high in pairwise([*HISTOGRAM_EDGES, None]):
        assert low is not None
        count = sum(1 for m in minutes if m >= low and (high is None or m < high))
        label = f"{low}-{high}" if high is not None else f"{low}+"
        buckets.append(Bucket(label=label, min_minutes=low, max_minutes=high, count=count))
    stats: dict[str, float | None] = dict.fromkeys(("mean", "median", "p90", "min", "max"))
    if minutes:
        mean, median = statistics.fmean(minutes), statistics.median(minutes)
        values = (mean, median, percentile(minutes, 90), min(minutes), max(minutes))
        stats = {k: round(v, 2) for k, v in zip(stats, values, strict=True)}
    impossible = sum(1 for s in sessions if s.impossible)
    return SessionStats(
        sessions=len(sessions),
        complete=len(minutes),
        incomplete=len(sessions) - len(minutes) - impossible,
        impossible=impossible,
        **{f"{k}_minutes": v for k, v in stats.items()},
        histogram=buckets,
    )


def length_outliers(sessions: list[Session], z_limit: float) -> list[Anomaly]:
    complete = [s for s in sessions if s.minutes is not None]
    minutes = [s.minutes for s in complete if s.minutes is not None]
    if len(minutes) < 3 or statistics.pstdev(minutes) == 0:
        return []
    mean, sd = statistics.fmean(minutes), statistics.pstdev(minutes)
    anomalies = []
    for s in complete:
        z = ((s.minutes or 0.0) - mean) / sd
        if abs(z) > z_limit:
            why = (
                f"session lasts {s.minutes:.2f} min, z = {z:.2f} "
                f"(mean {mean:.2f}, sd {sd:.2f}, limit {z_limit})"
            )
            idx = [*s.starts[:1], *s.ends[:1]]
            anomalies.append(_anomaly("session_length_outlier", s.user_id, s.session_id, idx, why))
    return anomalies


def fast_answers(events: list[Event], valid: list[int]) -> list[Anomaly]:
    by_user: dict[str, list[int]] = defaultdict(list)
    for i in valid:
        if events[i].type == "quiz_answer":
            by_user[events[i].user_id].append(i)
    anomalies = []
    for user in sorted(by_user):
        answers = sorted(by_user[user], key=lambda i: (events[i].timestamp, i))
        gaps = [(events[b].timestamp - events[a].timestamp, b) for a, b in pairwise(answers)]
        fast = [(gap, b) for gap, b in gaps if gap < MIN_ANSWER_GAP_SECONDS]
        if fast:
            why = (
                f"{len(fast)} quiz answer(s) less than {MIN_ANSWER_GAP_SECONDS:g} s after the "
                f"previous one (fastest {min(g for g, _ in fast):.2f} s)"
            )
            idx = [b for _, b in fast]
            anomalies.append(_anomaly("too_fast_answers", user, None, idx, why))
    return anomalies


def reached_sets(events: list[Event], valid: list[int], steps: list[int | str]) -> list[set[str]]:
    """Per funnel step, the users with a valid event of that type or checkpoint number."""
    by_key: dict[int | str, set[str]] = defaultdict(set)
    for e in (events[i] for i in valid):
        by_key[e.type].add(e.user_id)
        if e.checkpoint is not None:
            by_key[e.checkpoint].add(e.user_id)
    return [by_key.get(step, set()) for step in steps]


def build_funnel(steps: list[int | str], reached: list[set[str]]) -> list[FunnelStep]:
    funnel: list[FunnelStep] = []
    cohort: set[str] | None = None
    for step, users in zip(steps, reached, strict=True):
        cohort = users if cohort is None else cohort & users
        count, prev = len(cohort), funnel[-1].users if funnel else None
        first = funnel[0].users if funnel else count
        funnel.append(
            FunnelStep(
                step=f"checkpoint {step}" if isinstance(step, int) else step,
                users_reached=len(users),
                users=count,
                conversion_from_previous=round(count / prev, 4) if prev else None,
                conversion_from_start=round(count / first, 4) if first else None,
            )
        )
    return funnel


def question_stats(events: list[Event], valid: list[int], min_attempts: int) -> list[QuestionStats]:
    answers: dict[str, list[Event]] = defaultdict(list)
    for i in valid:
        qid = events[i].question_id
        if qid is not None:
            answers[qid].append(events[i])
    stats = []
    for qid, mine in sorted(answers.items()):
        correct = sum(1 for e in mine if e.correct)
        accuracy, enough = correct / len(mine), len(mine) >= min_attempts
        flag = "too_hard" if accuracy < TOO_HARD else "too_easy" if accuracy > TOO_EASY else None
        stats.append(
            QuestionStats(
                question_id=qid,
                attempts=len(mine),
                correct=correct,
                accuracy=round(accuracy, 4),
                users=len({e.user_id for e in mine}),
                flag=flag if enough else None,
            )
        )
    return stats


def user_summaries(
    events: list[Event],
    valid: list[int],
    sessions: list[Session],
    funnel_sets: list[set[str]],
    anomalies: list[Anomaly],
) -> list[UserSummary]:
    per_user: dict[str, list[Event]] = defaultdict(list)
    for i in valid:
        per_user[events[i].user_id].append(events[i])
    by_user: dict[str, list[Session]] = defaultdict(list)
    for s in sessions:
        by_user[s.user_id].append(s)
    flagged = Counter(a.user_id for a in anomalies)
    summaries = []
    for user in sorted(by_user):
        mine = by_user[user]
        evs = per_user[user]
        answers = [e for e in evs if e.type == "quiz_answer"]
        correct = sum(1 for e in answers if e.correct)
        steps = next(
            (k for k, users in enumerate(funnel_sets) if user not in users), len(funnel_sets)
        )
        summaries.append(
            UserSummary(
                user_id=user,
                sessions=len(mine),
                complete_sessions=sum(1 for s in mine if s.minutes is not None),
                total_minutes=round(sum(s.minutes or 0.0 for s in mine), 2),
                quiz_answers=len(answers),
                correct_answers=correct,
                accuracy=round(correct / len(answers), 4) if answers else None,
                checkpoints=len({e.checkpoint for e in evs if e.type == "checkpoint"}),
                lessons_completed=sum(1 for e in evs if e.type == "lesson_complete"),
                funnel_steps=steps,
                anomalies=flagged[user],
            )
        )
    return summaries


def default_funnel(events: list[Event], valid: list[int]) -> list[int | str]:
    checkpoints = sorted({c for c in (events[i].checkpoint for i in valid) if c is not None})
    return ["session_start", *checkpoints, "lesson_complete"]


def _quiz_anomaly(anomaly: Anomaly, events: list[Event]) -> bool:
    first = events[anomaly.event_indices[0]]
    return anomaly.kind == "too_fast_answers" or first.type == "quiz_answer"


def score_data(events: int, valid: int, sessions: SessionStats, users: int) -> dict[str, float]:
    """The rubric components (each in [0, 1]) described in the module docstring."""
    enough = (min(1.0, users / ENOUGH_USERS) + min(1.0, sessions.complete / ENOUGH_SESSIONS)) / 2
    return {
        "valid_events": round(valid / events, 4),
        "complete_sessions": round(sessions.complete / sessions.sessions, 4),
        "enough_data": round(enough, 4),
    }


def analyze_events(task_type: str, data: AnalyticsInput) -> AgentResult:
    """Handler of ``roblox_analytics``: clean the events, aggregate them, flag anomalies."""
    if task_type not in TASK_TYPES:
        raise ValueError(
            f"unsupported task_type {task_type!r} for roblox_analytics; "
            f"expected one of {', '.join(TASK_TYPES)}"
        )
    events = data.events
    dropped, anomalies = find_duplicates(events)
    by_key, session_anomalies = build_sessions(events, dropped)
    sessions = list(by_key.values())
    valid = [i for i in range(len(events)) if i not in dropped]
    anomalies += session_anomalies + length_outliers(sessions, data.anomaly_z)
    anomalies += fast_answers(events, valid)
    steps: list[int | str] = list(data.funnel or default_funnel(events, valid))
    reached = reached_sets(events, valid, steps)
    quiz_only = task_type == "quiz_report"
    if quiz_only:
        anomalies = [a for a in anomalies if a.kind in QUIZ_ANOMALIES and _quiz_anomaly(a, events)]
    stats = session_stats(sessions)
    kinds = Counter(a.kind for a in anomalies)
    users = len({s.user_id for s in sessions})
    breakdown = score_data(len(events), len(valid), stats, users)
    score = sum(RUBRIC_WEIGHTS[k] * v for k, v in breakdown.items())
    output = AnalyticsReport(
        task_type=task_type,
        events=EventCounts(
            total=len(events),
            valid=len(valid),
            invalid=len(dropped),
            by_type=dict(sorted(Counter(events[i].type for i in valid).items())),
        ),
        users=users,
        sessions=None if quiz_only else stats,
        funnel=None if quiz_only else build_funnel(steps, reached),
        questions=question_stats(events, valid, data.min_attempts),
        user_summaries=user_summaries(events, valid, sessions, reached, anomalies),
        anomalies=anomalies[:MAX_ANOMALIES],
        anomaly_counts={k: kinds[k] for k in get_args(AnomalyKind)},
        quality_breakdown=breakdown,
    )
    return AgentResult(output=output, quality_score=round(min(1.0, max(0.0, score)), 4))


def _example_events() -> list[dict[str, Any]]:
    day = "2024-05-06T"
    rows: list[tuple[str, str, str, str, dict[str, Any]]] = [
        ("session_start", "ana", "s1", "10:00:00", {}),
        ("checkpoint", "ana", "s1", "10:04:00", {"checkpoint": 1}),
        ("quiz_answer", "ana", "s1", "10:06:00", {"question_id": "q1", "correct": True}),
        ("checkpoint", "ana", "s1", "10:12:00", {"checkpoint": 2}),
        ("lesson_complete", "ana", "s1", "10:18:00", {}),
        ("session_end", "ana", "s1", "10:20:00", {}),
        ("session_start", "ben", "s2", "11:00:00", {}),
        ("checkpoint", "ben", "s2", "11:03:00", {"checkpoint": 1}),
        ("quiz_answer", "ben", "s2", "11:05:00", {"question_id": "q1", "correct": False}),
        ("session_end", "ben", "s2", "11:10:00", {}),
    ]
    return [
        {"type": t, "user_id": u, "session_id": s, "timestamp": f"{day}{hms}Z", **extra}
        for t, u, s, hms, extra in rows
    ]


EXAMPLE: dict[str, Any] = {"events": _example_events(), "anomaly_z": 3.0}

SPEC = register(
    AgentSpec(
        agent_type="roblox_analytics",
        description=(
            "Engagement metrics from gameplay and learning events: session lengths, "
            "completion funnel, per-question accuracy, per-user summaries and anomalies"
        ),
        input_model=AnalyticsInput,
        output_model=AnalyticsReport,
        handler=analyze_events,
        task_types=TASK_TYPES,
        example=EXAMPLE,
        example_task_type="engagement",
        soft_time_limit=60.0,
        time_limit=90.0,
        max_retries=1,
    )
)
