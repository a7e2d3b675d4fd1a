"""Unit tests of the roblox_analytics agent (tasks/agents/roblox_analytics/__init__.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tasks.agents.roblox_analytics import (
    RUBRIC_WEIGHTS,
    AnalyticsInput,
    AnalyticsReport,
    analyze_events,
    percentile,
)

DAY = "2024-05-06T"


def ev(kind: str, user: str, session: str, at: str, **extra: Any) -> dict[str, Any]:
    """An event at ``at`` (HH:MM:SS[.f] on DAY, or a full ISO datetime)."""
    stamp = at if "T" in at else f"{DAY}{at}Z"
    return {"type": kind, "user_id": user, "session_id": session, "timestamp": stamp, **extra}


def quiz(user: str, session: str, at: str, qid: str, correct: bool) -> dict[str, Any]:
    return ev("quiz_answer", user, session, at, question_id=qid, correct=correct)


# ana: one 20-minute session through the whole lesson.
# ben: sessions of 10 and 30 minutes; s3's start is sent twice (a duplicate).
# cat: s4 never ends (incomplete, two answers 0.5 s apart); s5 lasts 25 h (impossible).
GOLDEN: list[dict[str, Any]] = [
    ev("session_start", "ana", "s1", "10:00:00"),                # 0
    ev("checkpoint", "ana", "s1", "10:04:00", checkpoint=1),     # 1
    quiz("ana", "s1", "10:06:00", "q1", True),                   # 2
    quiz("ana", "s1", "10:07:00", "q2", True),                   # 3
    ev("checkpoint", "ana", "s1", "10:12:00", checkpoint=2),     # 4
    ev("lesson_complete", "ana", "s1", "10:18:00"),              # 5
    ev("session_end", "ana", "s1", "10:20:00"),                  # 6
    ev("session_start", "ben", "s2", "11:00:00"),                # 7
    ev("checkpoint", "ben", "s2", "11:03:00", checkpoint=1),     # 8
    quiz("ben", "s2", "11:05:00", "q1", False),                  # 9
    ev("session_end", "ben", "s2", "11:10:00"),                  # 10
    ev("session_start", "ben", "s3", "12:00:00"),                # 11
    ev("session_start", "ben", "s3", "12:00:00"),                # 12 duplicate of 11
    ev("session_end", "ben", "s3", "12:30:00"),                  # 13
    ev("session_start", "cat", "s4", "09:00:00"),                # 14
    ev("checkpoint", "cat", "s4", "09:02:00", checkpoint=1),     # 15
    quiz("cat", "s4", "09:05:00", "q2", True),                   # 16
    quiz("cat", "s4", "09:05:00.5", "q1", False),                # 17 0.5 s later
    ev("session_start", "cat", "s5", "13:00:00"),                # 18
    ev("session_end", "cat", "s5", "2024-05-07T14:00:00Z"),      # 19 25 h later
]  # fmt: skip


def run(
    task_type: str = "engagement", events: list[dict[str, Any]] | None = None, **fields: Any
) -> tuple[AnalyticsReport, float]:
    data = AnalyticsInput.model_validate({"events": GOLDEN if events is None else events} | fields)
    result = analyze_events(task_type, data)
    assert isinstance(result.output, AnalyticsReport)
    return result.output, result.quality_score


def test_golden_engagement_report() -> None:
    report, score = run(min_attempts=2)
    # dropped: the duplicate (12) and the impossible session's start and end (18, 19)
    assert report.events.model_dump() == {
        "total": 20,
        "valid": 17,
        "invalid": 3,
        "by_type": {
            "checkpoint": 4,
            "lesson_complete": 1,
            "quiz_answer": 5,
            "session_end": 3,
            "session_start": 4,
        },
    }
    assert report.users == 3
    sessions = report.sessions
    assert sessions is not None
    # complete: 20, 10 and 30 minutes -> mean 20, median 20, p90 = 20 + 0.8 * (30 - 20)
    assert sessions.model_dump(exclude={"histogram"}) == {
        "sessions": 5,
        "complete": 3,
        "incomplete": 1,
        "impossible": 1,
        "mean_minutes": 20.0,
        "median_minutes": 20.0,
        "p90_minutes": 28.0,
        "min_minutes": 10.0,
        "max_minutes": 30.0,
    }
    assert [(b.label, b.count) for b in sessions.histogram] == [
        ("0-5", 0),
        ("5-10", 0),
        ("10-15", 1),
        ("15-30", 1),
        ("30-60", 1),
        ("60-120", 0),
        ("120+", 0),
    ]
    assert report.funnel is not None
    assert [f.model_dump() for f in report.funnel] == [
        {"step": "session_start", "users_reached": 3, "users": 3,
         "conversion_from_previous": None, "conversion_from_start": 1.0},
        {"step": "checkpoint 1", "users_reached": 3, "users": 3,
         "conversion_from_previous": 1.0, "conversion_from_start": 1.0},
        {"step": "checkpoint 2", "users_reached": 1, "users": 1,
         "conversion_from_previous": 0.3333, "conversion_from_start": 0.3333},
        {"step": "lesson_complete", "users_reached": 1, "users": 1,
         "conversion_from_previous": 1.0, "conversion_from_start": 0.3333},
    ]  # fmt: skip
    # q1: ana right, ben and cat wrong; q2: ana and cat right (2 attempts >= min 2)
    assert [q.model_dump() for q in report.questions] == [
        {"question_id": "q1", "attempts": 3, "correct": 1, "accuracy": 0.3333, "users": 3,
         "flag": None},
        {"question_id": "q2", "attempts": 2, "correct": 2, "accuracy": 1.0, "users": 2,
         "flag": "too_easy"},
    ]  # fmt: skip
    assert [
        (u.user_id, u.sessions, u.complete_sessions, u.total_minutes, u.quiz_answers,
         u.correct_answers, u.accuracy, u.checkpoints, u.lessons_completed, u.funnel_steps,
         u.anomalies)
        for u in report.user_summaries
    ] == [
        ("ana", 1, 1, 20.0, 2, 2, 1.0, 2, 1, 4, 0),
        ("ben", 2, 2, 40.0, 1, 0, 0.0, 1, 0, 2, 1),
        ("cat", 2, 0, 0.0, 2, 1, 0.5, 1, 0, 2, 2),
    ]  # fmt: skip
    assert [a.model_dump() for a in report.anomalies] == [
        {"kind": "duplicate_event", "user_id": "ben", "session_id": "s3",
         "event_indices": [12], "reason": "events[12] repeats events[11] (session_start)"},
        {"kind": "impossible_duration", "user_id": "cat", "session_id": "s5",
         "event_indices": [18, 19], "reason": "session lasts 25.00 h: negative or over 24 h"},
        {"kind": "too_fast_answers", "user_id": "cat", "session_id": None,
         "event_indices": [17],
         "reason": "1 quiz answer(s) less than 1 s after the previous one (fastest 0.50 s)"},
    ]  # fmt: skip
    assert report.anomaly_counts == {
        "duplicate_event": 1,
        "repeated_session_event": 0,
        "impossible_duration": 1,
        "session_length_outlier": 0,
        "too_fast_answers": 1,
    }
    # valid 17/20; complete 3/5; enough data (3/10 users + 3/20 sessions) / 2 = 0.225
    assert report.quality_breakdown == {
        "valid_events": 0.85,
        "complete_sessions": 0.6,
        "enough_data": 0.225,
    }
    assert score == 0.65  # 0.5 * 0.85 + 0.3 * 0.6 + 0.2 * 0.225


def test_quiz_report_keeps_quiz_parts_only() -> None:
    engagement, engagement_score = run(min_attempts=2)
    report, score = run("quiz_report", min_attempts=2)
    assert report.sessions is None
    assert report.funnel is None
    assert report.questions == engagement.questions
    # the duplicate was a session_start and the impossible session has no quiz event
    assert [a.kind for a in report.anomalies] == ["too_fast_answers"]
    assert report.anomaly_counts["duplicate_event"] == 0
    assert [u.anomalies for u in report.user_summaries] == [0, 0, 1]
    assert score == engagement_score


def test_determinism() -> None:
    first, s1 = run()
    second, s2 = run()
    assert first.model_dump() == second.model_dump()
    assert s1 == s2


def test_explicit_funnel_is_sequential() -> None:
    # "lesson_complete" first: only ana; checkpoint 1 after it: ana only, though 3 reached it
    report, _ = run(funnel=["lesson_complete", 1, "quiz_answer"])
    assert report.funnel is not None
    assert [(f.step, f.users_reached, f.users) for f in report.funnel] == [
        ("lesson_complete", 1, 1),
        ("checkpoint 1", 3, 1),
        ("quiz_answer", 3, 1),
    ]
    empty, _ = run(funnel=[7, 1])
    assert empty.funnel is not None
    assert [
        (f.users, f.conversion_from_previous, f.conversion_from_start) for f in empty.funnel
    ] == [
        (0, None, None),
        (0, None, None),
    ]
    assert [u.funnel_steps for u in empty.user_summaries] == [0, 0, 0]


def test_session_length_outliers_by_z_score() -> None:
    # lengths 20, 10, 30: mean 20, population sd 8.165, z = -1.22 and +1.22
    report, _ = run(anomaly_z=1.2)
    outliers = [a for a in report.anomalies if a.kind == "session_length_outlier"]
    assert [(a.user_id, a.session_id, a.event_indices) for a in outliers] == [
        ("ben", "s2", [7, 10]),
        ("ben", "s3", [11, 13]),
    ]
    assert outliers[0].reason == (
        "session lasts 10.00 min, z = -1.22 (mean 20.00, sd 8.16, limit 1.2)"
    )
    quiet, _ = run(anomaly_z=1.3)
    assert quiet.anomaly_counts["session_length_outlier"] == 0


def test_long_session_stands_out_among_many() -> None:
    events = []
    for n in range(11):
        minutes = 120 if n == 10 else 10 + n % 3  # ten sessions of 10-12 min, one of 2 h
        events += [
            ev("session_start", f"u{n}", "s", "08:00:00"),
            ev("session_end", f"u{n}", "s", f"{8 + minutes // 60:02d}:{minutes % 60:02d}:00"),
        ]
    report, _ = run(events=events)
    outliers = [a for a in report.anomalies if a.kind == "session_length_outlier"]
    assert [a.user_id for a in outliers] == ["u10"]
    assert report.sessions is not None
    assert report.sessions.histogram[-1].count == 1  # 120+


def test_repeated_session_events_and_negative_duration() -> None:
    events = [
        ev("session_start", "ana", "s1", "10:00:00"),
        ev("session_start", "ana", "s1", "10:05:00"),  # a later start: repeated
        ev("session_end", "ana", "s1", "10:30:00"),
        ev("session_start", "ben", "s2", "11:00:00"),
        ev("session_end", "ben", "s2", "10:50:00"),  # ends before it starts
        ev("session_end", "cat", "s3", "10:00:00"),  # no start: incomplete
    ]
    report, score = run(events=events)
    assert [(a.kind, a.event_indices) for a in report.anomalies] == [
        ("repeated_session_event", [1]),
        ("impossible_duration", [3, 4]),
    ]
    assert report.anomalies[1].reason == "session lasts -0.17 h: negative or over 24 h"
    assert report.sessions is not None
    assert (report.sessions.complete, report.sessions.incomplete) == (1, 1)
    assert report.sessions.impossible == 1
    assert report.sessions.mean_minutes == 30.0  # from the earliest start
    assert report.events.valid == 3
    assert report.quality_breakdown["valid_events"] == 0.5
    assert 0.0 <= score <= 1.0


def test_question_flags_need_enough_attempts() -> None:
    events = [quiz(f"u{n}", "s", "10:00:00", "hard", n == 0) for n in range(4)]
    events += [quiz(f"u{n}", "s", "10:00:05", "easy", True) for n in range(4)]
    flagged, _ = run(events=events, min_attempts=4)
    assert [(q.question_id, q.accuracy, q.flag) for q in flagged.questions] == [
        ("easy", 1.0, "too_easy"),
        ("hard", 0.25, "too_hard"),
    ]
    few, _ = run(events=events)  # default min_attempts 5
    assert [q.flag for q in few.questions] == [None, None]


def test_no_complete_session() -> None:
    report, score = run(events=[quiz("ana", "s1", "10:00:00", "q1", True)])
    assert report.sessions is not None
    assert report.sessions.incomplete == 1
    assert report.sessions.mean_minutes is None
    assert report.sessions.p90_minutes is None
    assert report.funnel is not None
    assert [f.step for f in report.funnel] == ["session_start", "lesson_complete"]
    # valid 1.0, complete sessions 0, enough data (1/10 + 0) / 2
    assert score == round(0.5 + 0.2 * 0.05, 4)


def test_timestamps_iso_or_epoch_seconds() -> None:
    epoch = datetime(2024, 5, 6, 10, 0, tzinfo=UTC).timestamp()
    events: list[dict[str, Any]] = [
        {"type": "session_start", "user_id": "a", "session_id": "s", "timestamp": epoch},
        {"type": "session_end", "user_id": "a", "session_id": "s", "timestamp": epoch + 600},
        {"type": "session_start", "user_id": "b", "session_id": "s",
         "timestamp": "2024-05-06T12:00:00+02:00"},
        {"type": "session_end", "user_id": "b", "session_id": "s",
         "timestamp": "2024-05-06T10:15:00"},  # naive: UTC
        {"type": "session_start", "user_id": "c", "session_id": "s", "timestamp": str(epoch)},
        {"type": "session_end", "user_id": "c", "session_id": "s",
         "timestamp": datetime(2024, 5, 6, 10, 5, tzinfo=UTC)},
    ]  # fmt: skip
    data = AnalyticsInput.model_validate({"events": events})
    assert data.events[2].timestamp == epoch
    report, _ = run(events=events)
    assert [u.total_minutes for u in report.user_summaries] == [10.0, 15.0, 5.0]


def test_percentile_linear_interpolation() -> None:
    assert percentile([10.0], 90) == 10.0
    assert percentile([30.0, 10.0, 20.0], 90) == pytest.approx(28.0)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)


def test_quality_rubric_behaviour() -> None:
    clean = []
    for n in range(20):
        clean += [
            ev("session_start", f"u{n % 10}", f"s{n}", "10:00:00"),
            ev("session_end", f"u{n % 10}", f"s{n}", "10:15:00"),
        ]
    report, score = run(events=clean)
    assert report.quality_breakdown == {
        "valid_events": 1.0,
        "complete_sessions": 1.0,
        "enough_data": 1.0,
    }
    assert score == 1.0
    _, golden_score = run()
    assert 0.0 < golden_score < score
    samples: list[list[dict[str, Any]]] = [clean, GOLDEN, GOLDEN[:3], [GOLDEN[0], GOLDEN[0]]]
    for events in samples:
        report, score = run(events=events)
        assert 0.0 <= score <= 1.0
        assert all(0.0 <= v <= 1.0 for v in report.quality_breakdown.values())
        expected = sum(RUBRIC_WEIGHTS[k] * v for k, v in report.quality_breakdown.items())
        assert score == round(expected, 4)


def test_unsupported_task_type() -> None:
    with pytest.raises(ValueError, match="unsupported task_type 'forecast'"):
        run("forecast")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("events", []),
        ("funnel", []),
        ("funnel", [1, 1]),
        ("funnel", ["signup"]),
        ("anomaly_z", 0),
        ("anomaly_z", "high"),
        ("min_attempts", 0),
        ("surprise", 1),
    ],
)
def test_validation_errors_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        AnalyticsInput.model_validate({"events": GOLDEN} | {field: value})
    assert field in str(info.value)
    assert info.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "logout"}, "type"),
        ({"user_id": ""}, "user_id"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"timestamp": "nan"}, "timestamp"),
        ({"type": "quiz_answer", "correct": True}, "question_id"),
        ({"type": "checkpoint"}, "checkpoint"),
        ({"checkpoint": 2}, "checkpoint"),
        ({"question_id": "q1"}, "question_id"),
        ({"type": "checkpoint", "checkpoint": -1}, "checkpoint"),
        ({"mood": "happy"}, "mood"),
    ],
)
def test_event_validation_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    events = [GOLDEN[1], GOLDEN[0] | change]  # a checkpoint, then a changed session_start
    with pytest.raises(ValidationError) as info:
        AnalyticsInput.model_validate({"events": events})
    assert field in str(info.value)
    assert info.value.errors()[0]["loc"][:2] == ("events", 1)
