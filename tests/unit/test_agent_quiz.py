"""Unit tests of the quiz_generator agent (tasks/agents/quiz/__init__.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tasks.agents.content import ContentInput, LessonContent, generate_content
from tasks.agents.quiz import (
    RUBRIC_WEIGHTS,
    QuizInput,
    QuizOutput,
    candidate_terms,
    generate_quiz,
)

TWO_FACTS = (
    "Earth takes about 365 days to orbit the Sun. Water boils at 100 degrees Celsius at sea level."
)
SOLAR = (
    "The Sun is the star at the centre of the Solar System. "
    "Jupiter is the largest planet in the Solar System. "
    "Mars is often called the Red Planet because of iron oxide on its surface. "
    "Earth takes about 365 days to orbit the Sun. "
    "Saturn is surrounded by bright rings made of ice and rock. "
    "Isaac Newton described gravity in 1687. "
    "Photosynthesis happens inside chloroplasts of green plants."
)


def run(task_type: str = "quiz", **fields: Any) -> tuple[QuizOutput, float]:
    result = generate_quiz(task_type, QuizInput.model_validate(fields))
    assert isinstance(result.output, QuizOutput)
    return result.output, result.quality_score


def test_candidate_terms_rank_numbers_then_proper_nouns_then_long_words() -> None:
    terms = candidate_terms("Water boils at 100 degrees Celsius at sea level.")
    # "Water" opens the sentence and no lower-case "water" is known: a proper noun.
    assert [(t.text, t.kind) for t in terms] == [
        ("100", "number"),
        ("Water", "proper"),
        ("Celsius", "proper"),
        ("degrees", "word"),
    ]
    multi = candidate_terms("Mars is often called the Red Planet.", frozenset({"mars"}))
    assert [(t.text, t.kind) for t in multi] == [("Red Planet", "proper")]


def test_golden_fill_blank() -> None:
    quiz, score = run(content=TWO_FACTS, num_questions=2, question_types=["fill_blank"])
    # each sentence's best term is its number; questions come in source order
    assert [q.model_dump() for q in quiz.questions] == [
        {
            "id": "q1",
            "type": "fill_blank",
            "prompt": "Fill in the blank: Earth takes about _____ days to orbit the Sun.",
            "options": [],
            "answer": "365",
            "answer_index": None,
            "explanation": 'The missing term is "365". '
            'Source: "Earth takes about 365 days to orbit the Sun."',
            "source_sentence": "Earth takes about 365 days to orbit the Sun.",
        },
        {
            "id": "q2",
            "type": "fill_blank",
            "prompt": "Fill in the blank: Water boils at _____ degrees Celsius at sea level.",
            "options": [],
            "answer": "100",
            "answer_index": None,
            "explanation": 'The missing term is "100". '
            'Source: "Water boils at 100 degrees Celsius at sea level."',
            "source_sentence": "Water boils at 100 degrees Celsius at sea level.",
        },
    ]
    assert quiz.answer_key == {"q1": "365", "q2": "100"}
    # terms: 365, Earth, Sun | 100, Water, Celsius, degrees
    assert quiz.stats.model_dump() == {
        "requested": 2,
        "produced": 2,
        "shortfall": 0,
        "sentences_considered": 2,
        "usable_facts": 2,
        "term_pool_size": 7,
        "by_type": {"fill_blank": 2},
    }
    assert score == 1.0


def test_golden_multiple_choice_number_distractors() -> None:
    quiz, score = run(content=TWO_FACTS, num_questions=2, question_types=["multiple_choice"])
    first, second = quiz.questions
    assert (
        first.prompt
        == "Which answer completes the sentence? Earth takes about _____ days to orbit the Sun."
    )
    # the other number (100) plus nearby numbers in steps of 365 // 10 = 36
    assert len(first.options) == 4
    assert set(first.options) <= {"365", "100", "293", "329", "401", "437"}
    # steps of 100 // 10 = 10 around 100, plus 365
    assert set(second.options) <= {"100", "365", "80", "90", "110", "120"}
    for q in quiz.questions:
        assert q.answer_index is not None
        assert q.options[q.answer_index] == q.answer
    assert quiz.quality_breakdown["distractor_quality"] == 1.0  # all numbers for numbers
    assert score == 1.0


@pytest.mark.parametrize("seed", range(20))
def test_number_variants_never_duplicate_content_numbers(seed: int) -> None:
    # 90 is both in the content and a nearby number of 100 (step 10): offered once only
    content = "Water boils at 100 degrees at sea level. A right angle measures 90 degrees."
    quiz, _ = run(content=content, num_questions=2, question_types=["multiple_choice"], seed=seed)
    for q in quiz.questions:
        assert len(set(q.options)) == len(q.options) == 4
        assert q.options.count(q.answer) == 1


def test_determinism_and_seed() -> None:
    fields: dict[str, Any] = {"content": SOLAR, "num_questions": 6, "seed": 3}
    first, s1 = run(**fields)
    second, s2 = run(**fields)
    assert first.model_dump() == second.model_dump()
    assert s1 == s2
    dumps = {str(run(content=SOLAR, num_questions=6, seed=seed)[0].questions) for seed in range(8)}
    assert len(dumps) > 1  # the seed drives the choices


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("grade", [1, 2, 3, 9])
def test_distractors_never_equal_the_answer(seed: int, grade: int) -> None:
    quiz, _ = run(content=SOLAR, num_questions=7, seed=seed, grade_level=grade)
    for q in quiz.questions:
        if q.type == "multiple_choice":
            assert len(q.options) == (3 if grade <= 2 else 4)
            lowered = [o.lower() for o in q.options]
            assert len(set(lowered)) == len(lowered)  # no duplicates
            assert lowered.count(q.answer.lower()) == 1  # the answer once, no distractor equal
            assert q.answer_index is not None and q.options[q.answer_index] == q.answer
        elif q.type == "true_false":
            assert q.options == ["True", "False"]
            statement = q.prompt.removeprefix("True or false: ")
            if q.answer == "True":
                assert statement == q.source_sentence
            else:
                assert statement != q.source_sentence
                assert "not" in q.explanation
        else:
            assert "_____" in q.prompt and q.answer.lower() not in q.prompt.lower()
        assert q.source_sentence in SOLAR
        assert f'Source: "{q.source_sentence}"' in q.explanation
    answers = [q.answer for q in quiz.questions if q.type != "true_false"]
    assert len(answers) == len(set(answers))


def test_type_variety_and_counts() -> None:
    quiz, _ = run(content=SOLAR, num_questions=6)
    assert quiz.stats.by_type == {"multiple_choice": 2, "true_false": 2, "fill_blank": 2}
    assert quiz.quality_breakdown["type_variety"] == 1.0
    assert sorted(quiz.answer_key) == [f"q{i}" for i in range(1, 7)]


def test_too_few_facts_gives_fewer_questions_and_lower_score() -> None:
    full, full_score = run(content=TWO_FACTS, num_questions=2, question_types=["fill_blank"])
    short, short_score = run(content=TWO_FACTS, num_questions=5, question_types=["fill_blank"])
    # one question per usable fact (sentence): 2 of 5, completeness 0.4
    assert full.stats.shortfall == 0
    assert short.stats.produced == 2
    assert short.stats.shortfall == 3
    assert short_score == 0.7  # 0.5 * 0.4 + 0.3 * 1 + 0.2 * 1
    tiny, tiny_score = run(
        content="Jupiter is big and round.", num_questions=4, question_types=["fill_blank"]
    )
    assert tiny.stats.produced == 1
    assert tiny.stats.shortfall == 3
    assert tiny.quality_breakdown["completeness"] == 0.25
    # 0.5 * 0.25 + 0.3 * 1 + 0.2 * 1
    assert tiny_score == 0.625
    assert tiny_score < short_score < full_score == 1.0


def test_no_usable_facts_raises() -> None:
    with pytest.raises(ValueError, match="no usable facts"):
        run(content="the cat sat on a mat and it was fun.")
    with pytest.raises(ValueError, match="could not build any question"):
        run(content="Jupiter is big and round.", question_types=["multiple_choice"])


def test_exit_ticket_caps_at_three() -> None:
    quiz, score = run("exit_ticket", content=SOLAR, num_questions=10)
    assert quiz.stats.requested == 3
    assert quiz.stats.produced == 3
    assert 0.0 <= score <= 1.0


def test_unsupported_task_type() -> None:
    with pytest.raises(ValueError, match="unsupported task_type 'essay'"):
        run("essay", content=SOLAR)


def test_distractor_quality_drops_with_mismatched_kinds() -> None:
    # only one number in the pool, and it is not a whole number: its distractors must be words
    content = "Pi is about 3.14 in mathematics. Rectangles have perpendicular corners."
    quiz, _ = run(content=content, num_questions=1, question_types=["multiple_choice"])
    assert quiz.questions[0].answer == "3.14"
    assert quiz.quality_breakdown["distractor_quality"] == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_questions", 0),
        ("num_questions", 51),
        ("question_types", []),
        ("question_types", ["essay"]),
        ("content", "too short"),
        ("content", "x" * 200_001),
        ("key_facts", []),
        ("grade_level", 13),
        ("seed", "abc"),
        ("surprise", 1),
    ],
)
def test_validation_errors_name_the_field(field: str, value: Any) -> None:
    base: dict[str, Any] = {"content": SOLAR}
    with pytest.raises(ValidationError) as info:
        QuizInput.model_validate(base | {field: value})
    assert field in str(info.value)
    assert info.value.errors()[0]["loc"][0] == field


def test_content_or_key_facts_required() -> None:
    with pytest.raises(ValidationError, match="either 'content' or 'key_facts' is required"):
        QuizInput.model_validate({"num_questions": 3})


def test_key_facts_from_the_content_generator() -> None:
    lesson = generate_content(
        "lesson",
        ContentInput(
            topic="the water cycle",
            grade_level=4,
            learning_objectives=[
                "Identify the four stages of the water cycle",
                "Explain how evaporation and condensation differ",
            ],
            vocabulary=["evaporation", "condensation"],
        ),
    ).output
    assert isinstance(lesson, LessonContent)
    quiz, score = run(key_facts=lesson.key_facts, num_questions=5, grade_level=4)
    assert quiz.stats.produced == 5
    assert all(q.source_sentence in lesson.key_facts for q in quiz.questions)
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("num", [1, 3, 10, 50])
def test_quality_score_bounds_and_rubric(num: int) -> None:
    quiz, score = run(content=SOLAR, num_questions=num, seed=num)
    assert 0.0 <= score <= 1.0
    assert all(0.0 <= v <= 1.0 for v in quiz.quality_breakdown.values())
    expected = sum(RUBRIC_WEIGHTS[k] * v for k, v in quiz.quality_breakdown.items())
    assert score == round(expected, 4)
    assert quiz.quality_breakdown["completeness"] == round(quiz.stats.produced / num, 4)
