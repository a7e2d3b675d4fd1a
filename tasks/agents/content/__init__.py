"""Content generator agent (``content_generator``): a structured lesson from a topic.

Input: a topic, a grade level (1-12), 1-10 learning objectives, an optional subject,
an optional duration (5-180 minutes, default 45) and an optional vocabulary list.

Task types:

* ``lesson``  - the full plan: every section lists its activities.
* ``outline`` - the same plan, each section keeps only its first activity.
* ``summary`` - section names and minutes only (no activities), plus the summary.

The plan has six sections (intro, direct instruction, guided practice, independent
practice, assessment, closure) whose minutes are split from the duration by fixed
percentages (10/25/20/25/12/8) with the largest-remainder method, so they always sum
to the duration exactly. Each objective is classified by its leading verb (Bloom's
taxonomy) and mapped to a guided and an independent activity and an assessment check.
``key_facts`` are plain sentences meant as input for the quiz generator.

Quality rubric (score in [0, 1], rounded to 4 places, breakdown in the output):

* objective_coverage (weight 0.40): mean over objectives of 1.0 when it starts with a
  measurable (Bloom) verb, so it gets a specific activity and check; 0.5 when the verb
  is vague or unknown ("understand", "know", ...), so it only gets generic ones; 0.0
  for a repeat of an earlier objective.
* time_balance (weight 0.25): 0.5 x the share of sections with at least one minute
  + 0.5 x min(1, practice minutes per objective / 5), practice being guided plus
  independent practice.
* vocabulary_coverage (weight 0.20): with a vocabulary list, the share of its terms
  found in the objectives or the topic (and so given a grounded definition); without
  one, min(1, terms extracted from the objectives / 3).
* readability_fit (weight 0.15): the share of objectives no longer than the grade's
  sentence-length limit (8 words for grades 1-2, 15 for 3-5, 20 for 6-8, 25 for 9-12).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tasks.agents.content.lesson_parts import (
    ACTIVITY_TEMPLATES,
    BLOOM_LEVEL_OF_VERB,  # noqa: F401  (re-exported)
    GENERIC_TEMPLATES,
    READING_LEVELS,  # noqa: F401  (re-exported)
    SECTION_PLAN,
    SectionKind,
    allocate_minutes,
    bloom_level,
    contains_term,
    extract_terms,
    normalize_objective,
    objective_action,
    reading_level,
)
from tasks.spec import AgentResult, AgentSpec, register

TASK_TYPES: tuple[str, ...] = ("lesson", "outline", "summary")

RUBRIC_WEIGHTS: dict[str, float] = {
    "objective_coverage": 0.40,
    "time_balance": 0.25,
    "vocabulary_coverage": 0.20,
    "readability_fit": 0.15,
}

MIN_PRACTICE_MINUTES_PER_OBJECTIVE = 5

Objective = Annotated[str, StringConstraints(min_length=3, max_length=300)]
Term = Annotated[str, StringConstraints(min_length=1, max_length=60)]


class ContentInput(BaseModel):
    """Validated input of the content generator."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topic: str = Field(min_length=2, max_length=200)
    grade_level: int = Field(ge=1, le=12)
    learning_objectives: list[Objective] = Field(min_length=1, max_length=10)
    subject: str | None = Field(default=None, min_length=2, max_length=60)
    duration_minutes: int = Field(default=45, ge=5, le=180)
    vocabulary: list[Term] = Field(default_factory=list, max_length=30)


class LessonSection(BaseModel):
    kind: SectionKind
    title: str
    minutes: int
    activities: list[str]


class ObjectivePlan(BaseModel):
    objective: str
    bloom_level: str | None
    measurable: bool
    activities: list[str]
    sections: list[SectionKind]
    assessment_check: str


class VocabularyEntry(BaseModel):
    term: str
    definition: str
    grounded: bool
    source: Literal["objective", "topic", "none"]


class LessonContent(BaseModel):
    """Output of the content generator."""

    task_type: str
    title: str
    topic: str
    subject: str | None
    grade_level: int
    duration_minutes: int
    reading_level: str
    summary: str
    sections: list[LessonSection]
    objectives: list[ObjectivePlan]
    vocabulary: list[VocabularyEntry]
    key_facts: list[str]
    quality_breakdown: dict[str, float]


def _plan_objective(objective: str) -> ObjectivePlan:
    action = objective_action(objective)
    level = bloom_level(action)
    guided, independent, check = ACTIVITY_TEMPLATES[level] if level else GENERIC_TEMPLATES
    return ObjectivePlan(
        objective=objective,
        bloom_level=level,
        measurable=level is not None,
        activities=[guided.format(action=action), independent.format(action=action)],
        sections=["guided_practice", "independent_practice", "assessment"],
        assessment_check=check.format(action=action),
    )


def _build_vocabulary(data: ContentInput) -> list[VocabularyEntry]:
    terms = list(dict.fromkeys(data.vocabulary)) or extract_terms(data.learning_objectives)
    entries: list[VocabularyEntry] = []
    for term in terms:
        found = next((o for o in data.learning_objectives if contains_term(o, term)), None)
        source: Literal["objective", "topic", "none"] = "objective"
        definition = (
            f"{term}: a key word in {data.topic}; students will {objective_action(found or '')}."
        )
        if found is None and contains_term(data.topic, term):
            source, definition = "topic", f"{term}: part of this lesson's topic, {data.topic}."
        elif found is None:
            source = "none"
            definition = f"{term}: a word related to {data.topic}; find its meaning in the text."
        entries.append(
            VocabularyEntry(
                term=term, definition=definition, grounded=source != "none", source=source
            )
        )
    return entries


def _section_activities(
    data: ContentInput, plans: list[ObjectivePlan], vocabulary: list[VocabularyEntry]
) -> dict[SectionKind, list[str]]:
    actions = [objective_action(p.objective) for p in plans]
    direct = [f"Teacher models how to {a}" for a in actions]
    if vocabulary:
        direct.append("Introduce vocabulary: " + ", ".join(v.term for v in vocabulary))
    return {
        "intro": [
            f"Hook: ask what students already know about {data.topic}",
            "Share today's learning objectives",
        ],
        "direct_instruction": direct,
        "guided_practice": [p.activities[0] for p in plans],
        "independent_practice": [p.activities[1] for p in plans],
        "assessment": [p.assessment_check for p in plans],
        "closure": [
            f"Recap the key facts about {data.topic}",
            "Exit ticket: one thing learned and one question",
        ],
    }


def _build_sections(
    task_type: str, minutes: list[int], activities: dict[SectionKind, list[str]]
) -> list[LessonSection]:
    sections: list[LessonSection] = []
    for (kind, title, _), mins in zip(SECTION_PLAN, minutes, strict=True):
        items = activities[kind]
        if task_type == "outline":
            items = items[:1]
        elif task_type == "summary":
            items = []
        sections.append(LessonSection(kind=kind, title=title, minutes=mins, activities=items))
    return sections


def _key_facts(
    data: ContentInput, minutes: list[int], vocabulary: list[VocabularyEntry]
) -> list[str]:
    topic = data.topic[0].upper() + data.topic[1:]
    subject = f" {data.subject}" if data.subject else ""
    practice = minutes[2] + minutes[3]
    facts = [f"{topic} is the topic of this grade {data.grade_level}{subject} lesson."]
    facts += [f"Students will {objective_action(o)}." for o in data.learning_objectives]
    facts += [
        f"{v.term[:1].upper()}{v.term[1:]} is a key vocabulary word for {data.topic}."
        for v in vocabulary
        if v.grounded
    ]
    facts.append(
        f"The lesson lasts {data.duration_minutes} minutes, with {practice} minutes of practice."
    )
    facts.append(f"The lesson has {len(data.learning_objectives)} learning objectives.")
    return facts


def score_lesson(
    data: ContentInput,
    plans: list[ObjectivePlan],
    minutes: list[int],
    vocabulary: list[VocabularyEntry],
) -> dict[str, float]:
    """The rubric components (each in [0, 1]) described in the module docstring."""
    seen: set[str] = set()
    credits: list[float] = []
    for plan in plans:
        key = normalize_objective(plan.objective)
        credits.append(0.0 if key in seen else (1.0 if plan.measurable else 0.5))
        seen.add(key)
    practice_per_objective = (minutes[2] + minutes[3]) / len(plans)
    time_balance = 0.5 * sum(1 for m in minutes if m >= 1) / len(minutes) + 0.5 * min(
        1.0, practice_per_objective / MIN_PRACTICE_MINUTES_PER_OBJECTIVE
    )
    if data.vocabulary:
        vocab = sum(1 for v in vocabulary if v.grounded) / len(vocabulary)
    else:
        vocab = min(1.0, len(vocabulary) / 3)
    _, limit = reading_level(data.grade_level)
    fits = sum(1 for o in data.learning_objectives if len(o.split()) <= limit)
    return {
        "objective_coverage": round(sum(credits) / len(credits), 4),
        "time_balance": round(time_balance, 4),
        "vocabulary_coverage": round(vocab, 4),
        "readability_fit": round(fits / len(data.learning_objectives), 4),
    }


def generate_content(task_type: str, data: ContentInput) -> AgentResult:
    """Handler of ``content_generator``: build the lesson and score it by the rubric."""
    if task_type not in TASK_TYPES:
        raise ValueError(
            f"unsupported task_type {task_type!r} for content_generator; "
            f"expected one of {', '.join(TASK_TYPES)}"
        )
    minutes = allocate_minutes(data.duration_minutes)
    plans = [_plan_objective(o) for o in data.learning_objectives]
    vocabulary = _build_vocabulary(data)
    sections = _build_sections(task_type, minutes, _section_activities(data, plans, vocabulary))
    breakdown = score_lesson(data, plans, minutes, vocabulary)
    score = sum(RUBRIC_WEIGHTS[name] * value for name, value in breakdown.items())
    topic_title = " ".join(w[:1].upper() + w[1:] for w in data.topic.split())
    subject = f" {data.subject[:1].upper()}{data.subject[1:]}" if data.subject else ""
    actions = [objective_action(o) for o in data.learning_objectives]
    output = LessonContent(
        task_type=task_type,
        title=f"{topic_title}: Grade {data.grade_level}{subject} Lesson",
        topic=data.topic,
        subject=data.subject,
        grade_level=data.grade_level,
        duration_minutes=data.duration_minutes,
        reading_level=reading_level(data.grade_level)[0],
        summary=(
            f"In this {data.duration_minutes}-minute lesson on {data.topic}, "
            f"students will {'; '.join(actions)}."
        ),
        sections=sections,
        objectives=plans,
        vocabulary=vocabulary,
        key_facts=_key_facts(data, minutes, vocabulary),
        quality_breakdown=breakdown,
    )
    return AgentResult(output=output, quality_score=round(min(1.0, max(0.0, score)), 4))


EXAMPLE: dict[str, Any] = {
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

SPEC = register(
    AgentSpec(
        agent_type="content_generator",
        description=(
            "Structured lesson content (sections with timed activities, objective map, "
            "vocabulary, reading-level hint, key facts) from a topic and objectives"
        ),
        input_model=ContentInput,
        output_model=LessonContent,
        handler=generate_content,
        task_types=TASK_TYPES,
        example=EXAMPLE,
        example_task_type="lesson",
        soft_time_limit=20.0,
        time_limit=30.0,
        max_retries=2,
    )
)
