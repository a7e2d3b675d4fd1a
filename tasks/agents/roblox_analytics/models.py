"""Event and metric models of the roblox analytics agent (``roblox_analytics``).

The validated gameplay ``Event`` (with its ``EventType`` and ``Id`` types), the
per-section result models (``Bucket``, ``SessionStats``, ``FunnelStep``,
``QuestionStats``, ``UserSummary``, ``Anomaly`` with its ``AnomalyKind``) and the mutable
``Session`` record the metrics build. Shared by ``tasks.agents.roblox_analytics.metrics`` and
``tasks.agents.roblox_analytics``, which re-exports them and documents the behaviour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

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


@dataclass(slots=True)
class Session:
    user_id: str
    session_id: str
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    minutes: float | None = None  # set for a complete session
    impossible: bool = False
