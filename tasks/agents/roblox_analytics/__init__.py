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

from collections import Counter
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasks.agents.roblox_analytics.metrics import (  # noqa: F401
    HISTOGRAM_EDGES,
    MAX_INDICES,
    MAX_SESSION_SECONDS,
    MIN_ANSWER_GAP_SECONDS,
    TOO_EASY,
    TOO_HARD,
    build_funnel,
    build_sessions,
    default_funnel,
    fast_answers,
    find_duplicates,
    length_outliers,
    percentile,
    question_stats,
    reached_sets,
    session_stats,
    user_summaries,
)
from tasks.agents.roblox_analytics.models import (  # noqa: F401
    Anomaly,
    AnomalyKind,
    Bucket,
    Event,
    EventType,
    FunnelStep,
    Id,
    QuestionStats,
    Session,
    SessionStats,
    UserSummary,
)
from tasks.spec import AgentResult, AgentSpec, register

TASK_TYPES: tuple[str, ...] = ("engagement", "quiz_report")
RUBRIC_WEIGHTS: dict[str, float] = {
    "valid_events": 0.5,
    "complete_sessions": 0.3,
    "enough_data": 0.2,
}
ENOUGH_USERS, ENOUGH_SESSIONS = 10, 20
MAX_ANOMALIES = 1000
QUIZ_ANOMALIES = frozenset({"too_fast_answers", "duplicate_event"})


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
