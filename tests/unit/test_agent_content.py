"""Unit tests of the content_generator agent (tasks/agents/content/__init__.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tasks.agents.content import (
    RUBRIC_WEIGHTS,
    SECTION_PLAN,
    ContentInput,
    LessonContent,
    allocate_minutes,
    generate_content,
)

WATER_CYCLE: dict[str, Any] = {
    "topic": "the water cycle",
    "grade_level": 4,
    "subject": "science",
    "duration_minutes": 45,
    "learning_objectives": [
        "Identify the four stages of the water cycle",
        "Explain how evaporation and condensation differ",
    ],
    "vocabulary": ["evaporation", "condensation", "precipitation"],
}


def run(task_type: str = "lesson", **overrides: Any) -> tuple[LessonContent, float]:
    result = generate_content(task_type, ContentInput.model_validate(WATER_CYCLE | overrides))
    assert isinstance(result.output, LessonContent)
    return result.output, result.quality_score


def test_golden_water_cycle_lesson() -> None:
    lesson, score = run()
    assert lesson.title == "The Water Cycle: Grade 4 Science Lesson"
    # 45 min x (10, 25, 20, 25, 12, 8)% = 4.5, 11.25, 9, 11.25, 5.4, 3.6 -> floors sum to 43;
    # the two leftover minutes go to the largest remainders: closure (.6) and intro (.5).
    assert [s.kind for s in lesson.sections] == [kind for kind, _, _ in SECTION_PLAN]
    assert [s.minutes for s in lesson.sections] == [5, 11, 9, 11, 5, 4]
    assert [o.bloom_level for o in lesson.objectives] == ["remember", "understand"]
    assert all(o.measurable for o in lesson.objectives)
    assert lesson.objectives[0].assessment_check == (
        "Exit quiz: students identify the four stages of the water cycle without notes"
    )
    assert lesson.sections[2].activities == [
        "Matching game in pairs: identify the four stages of the water cycle",
        "Think-pair-share: explain how evaporation and condensation differ in your own words",
    ]
    # evaporation and condensation occur in objective 2; precipitation nowhere.
    assert [(v.term, v.grounded, v.source) for v in lesson.vocabulary] == [
        ("evaporation", True, "objective"),
        ("condensation", True, "objective"),
        ("precipitation", False, "none"),
    ]
    assert lesson.vocabulary[0].definition == (
        "evaporation: a key word in the water cycle; "
        "students will explain how evaporation and condensation differ."
    )
    assert lesson.reading_level.startswith("Grade 4. Developing reader")
    assert "15 words" in lesson.reading_level
    assert lesson.key_facts == [
        "The water cycle is the topic of this grade 4 science lesson.",
        "Students will identify the four stages of the water cycle.",
        "Students will explain how evaporation and condensation differ.",
        "Evaporation is a key vocabulary word for the water cycle.",
        "Condensation is a key vocabulary word for the water cycle.",
        "The lesson lasts 45 minutes, with 20 minutes of practice.",
        "The lesson has 2 learning objectives.",
    ]
    # coverage 1, time balance 1 (20 practice min / 2 objectives >= 5), vocabulary 2/3,
    # readability 1 (8 and 6 words <= 15): 0.40 + 0.25 + 0.20 * 2/3 + 0.15 = 0.9333
    assert lesson.quality_breakdown == {
        "objective_coverage": 1.0,
        "time_balance": 1.0,
        "vocabulary_coverage": 0.6667,
        "readability_fit": 1.0,
    }
    assert score == 0.9333


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (5, [1, 1, 1, 1, 1, 0]),
        (45, [5, 11, 9, 11, 5, 4]),
        (60, [6, 15, 12, 15, 7, 5]),
        (180, [18, 45, 36, 45, 22, 14]),
    ],
)
def test_minutes_always_sum_to_duration(duration: int, expected: list[int]) -> None:
    assert allocate_minutes(duration) == expected
    for d in range(5, 181):
        assert sum(allocate_minutes(d)) == d


def test_determinism() -> None:
    first, score1 = run()
    second, score2 = run()
    assert first.model_dump() == second.model_dump()
    assert score1 == score2


def test_task_types_change_detail_not_timing() -> None:
    lesson, _ = run("lesson")
    outline, _ = run("outline")
    summary, _ = run("summary")
    minutes = [s.minutes for s in lesson.sections]
    assert [s.minutes for s in outline.sections] == minutes
    assert [s.minutes for s in summary.sections] == minutes
    assert all(len(s.activities) == 1 for s in outline.sections)
    assert all(s.activities == [] for s in summary.sections)
    assert summary.summary.startswith("In this 45-minute lesson on the water cycle")


def test_unsupported_task_type() -> None:
    with pytest.raises(ValueError, match="unsupported task_type 'poem'"):
        generate_content("poem", ContentInput.model_validate(WATER_CYCLE))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grade_level", 13),
        ("grade_level", 0),
        ("learning_objectives", []),
        ("learning_objectives", [f"Identify fact {i}" for i in range(11)]),
        ("duration_minutes", 4),
        ("duration_minutes", 181),
        ("topic", " "),
        ("vocabulary", [""]),
        ("surprise", True),
    ],
)
def test_validation_errors_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        ContentInput.model_validate(WATER_CYCLE | {field: value})
    assert field in str(info.value)
    assert info.value.errors()[0]["loc"][0] == field


def test_missing_required_field() -> None:
    data = dict(WATER_CYCLE)
    del data["learning_objectives"]
    with pytest.raises(ValidationError, match="learning_objectives"):
        ContentInput.model_validate(data)


def test_fewer_measurable_objectives_lower_the_score() -> None:
    vague = ["Identify the four stages of the water cycle", "Understand the water cycle"]
    _, full_score = run(vocabulary=[])
    lesson, vague_score = run(learning_objectives=vague, vocabulary=[])
    assert lesson.objectives[1].bloom_level is None
    assert lesson.objectives[1].assessment_check == (
        "Teacher observation: can students understand the water cycle?"
    )
    assert lesson.quality_breakdown["objective_coverage"] == 0.75
    assert vague_score < full_score


def test_repeated_objective_earns_no_coverage() -> None:
    lesson, _ = run(learning_objectives=["Identify the stages", "identify the stages."])
    assert lesson.quality_breakdown["objective_coverage"] == 0.5


def test_time_balance_reflects_practice_per_objective() -> None:
    many = [f"Identify the stage number {i} of the water cycle" for i in range(10)]
    lesson, _ = run(learning_objectives=many)
    # 20 practice minutes / 10 objectives = 2 < 5: 0.5 * 1 + 0.5 * 2/5 = 0.7
    assert lesson.quality_breakdown["time_balance"] == 0.7
    short, _ = run(duration_minutes=5, learning_objectives=WATER_CYCLE["learning_objectives"][:1])
    # closure gets 0 of 5 minutes; 2 practice minutes for 1 objective:
    # 0.5 * 5/6 + 0.5 * 2/5 = 0.6167
    assert short.quality_breakdown["time_balance"] == 0.6167


def test_vocabulary_coverage() -> None:
    grounded, score_grounded = run(vocabulary=["evaporation", "condensation"])
    ungrounded, score_ungrounded = run(vocabulary=["glacier", "aquifer"])
    assert grounded.quality_breakdown["vocabulary_coverage"] == 1.0
    assert ungrounded.quality_breakdown["vocabulary_coverage"] == 0.0
    assert score_ungrounded < score_grounded
    # a term found only in the topic is grounded by the topic
    topical, _ = run(topic="the water cycle in Wales", vocabulary=["Wales"])
    assert topical.vocabulary[0].source == "topic"
    assert topical.vocabulary[0].grounded
    # no list: the longest content words of the objectives, Bloom verbs excluded
    auto, _ = run(vocabulary=[])
    assert [v.term for v in auto.vocabulary] == ["condensation", "evaporation", "stages", "differ"]
    assert auto.quality_breakdown["vocabulary_coverage"] == 1.0


def test_readability_depends_on_grade() -> None:
    long_objective = ["Identify the four main stages of the water cycle in nature"]  # 11 words
    grade1, score1 = run(grade_level=1, learning_objectives=long_objective)
    grade6, score6 = run(grade_level=6, learning_objectives=long_objective)
    assert grade1.quality_breakdown["readability_fit"] == 0.0
    assert grade6.quality_breakdown["readability_fit"] == 1.0
    assert score1 < score6
    assert grade1.reading_level.startswith("Grade 1. Emergent reader")


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"vocabulary": []},
        {"duration_minutes": 5},
        {"learning_objectives": ["know stuff"] * 10, "vocabulary": ["zzz"], "grade_level": 1},
        {"subject": None, "grade_level": 12, "duration_minutes": 180},
    ],
)
def test_quality_score_in_bounds_and_matches_rubric(overrides: dict[str, Any]) -> None:
    lesson, score = run(**overrides)
    assert 0.0 <= score <= 1.0
    assert all(0.0 <= v <= 1.0 for v in lesson.quality_breakdown.values())
    expected = sum(RUBRIC_WEIGHTS[k] * v for k, v in lesson.quality_breakdown.items())
    assert score == round(expected, 4)
    assert sum(s.minutes for s in lesson.sections) == lesson.duration_minutes


def test_objective_prefixes_are_stripped() -> None:
    lesson, _ = run(learning_objectives=["Students will be able to compare rain and snow."])
    assert lesson.objectives[0].bloom_level == "analyze"
    assert "Students will compare rain and snow." in lesson.key_facts
