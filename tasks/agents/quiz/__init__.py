"""Quiz generator agent (``quiz_generator``): questions drawn from given content.

Input: ``content`` (text) and/or ``key_facts`` (sentences, e.g. the content generator's),
``num_questions`` (1-50), ``question_types`` (any of multiple_choice, true_false,
fill_blank), ``grade_level`` and ``seed``. Everything random goes through
``random.Random(seed)``, so the same input always gives the same quiz.

Task types: ``quiz`` (``num_questions`` questions) and ``exit_ticket`` (at most 3).

How it works: the text is split into sentences of 4-80 words. In each sentence the
candidate terms are numbers, runs of capitalised words (not a sentence-initial
function word) and words of 6+ letters that are not stopwords; numbers rank first,
then proper nouns, then longer words. Every sentence with a term is a usable fact.
Facts are taken best term first, one question per fact, each answer term used once;
the question types rotate from a seeded start. A question blanks the term
(fill_blank), offers it among distractors (multiple_choice: 3 options up to grade 2,
4 from grade 3) or states the sentence as is or with the term swapped for a
distractor (true_false, a seeded coin flip). Distractors are other terms of the
same content, preferably of the same kind as the answer, never equal to it,
contained in it or present in the source sentence, and never repeated; a whole
number short of other numbers in the content gets nearby numbers (about 10% steps).
Questions are listed in source order.

Too few facts for ``num_questions``: as many questions as possible and a lower score.
No usable fact at all (or no question buildable): ``ValueError``.

Quality rubric (score in [0, 1], rounded to 4 places, breakdown in the output):

* completeness (weight 0.5): questions produced / questions requested.
* distractor_quality (weight 0.3): mean over questions that use distractors
  (multiple choice, false true/false) of (same-kind distractors / target count), the
  target being options - 1 for multiple choice and 1 for true/false; 1.0 when no
  question uses distractors.
* type_variety (weight 0.2): distinct types produced / min(types requested, questions
  requested).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from tasks.agents.quiz.terms import (
    MAX_WORDS,  # noqa: F401  (re-exported)
    MIN_WORD_TERM,
    MIN_WORDS,  # noqa: F401  (re-exported)
    Fact,
    Term,
    TermKind,  # noqa: F401  (re-exported)
    candidate_terms,  # noqa: F401  (re-exported)
    extract_facts,
    number_variants,  # noqa: F401  (re-exported)
    pick_distractors,
    split_sentences,  # noqa: F401  (re-exported)
    term_pattern,
)
from tasks.spec import AgentResult, AgentSpec, register

TASK_TYPES: tuple[str, ...] = ("quiz", "exit_ticket")
EXIT_TICKET_MAX = 3

QuestionType = Literal["multiple_choice", "true_false", "fill_blank"]
QUESTION_TYPES: tuple[QuestionType, ...] = ("multiple_choice", "true_false", "fill_blank")

RUBRIC_WEIGHTS: dict[str, float] = {
    "completeness": 0.5,
    "distractor_quality": 0.3,
    "type_variety": 0.2,
}

BLANK = "_____"
FactText = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class QuizInput(BaseModel):
    """Validated input of the quiz generator (``content`` and/or ``key_facts``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    content: str | None = Field(default=None, min_length=20, max_length=200_000)
    key_facts: list[FactText] | None = Field(default=None, min_length=1, max_length=1000)
    num_questions: int = Field(default=5, ge=1, le=50)
    question_types: list[QuestionType] = Field(
        default_factory=lambda: list(QUESTION_TYPES), min_length=1
    )
    grade_level: int = Field(default=6, ge=1, le=12)
    seed: int = 0

    @field_validator("question_types")
    @classmethod
    def _dedupe_types(cls, value: list[QuestionType]) -> list[QuestionType]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _needs_source(self) -> QuizInput:
        if self.content is None and self.key_facts is None:
            raise ValueError("either 'content' or 'key_facts' is required")
        return self


class QuizQuestion(BaseModel):
    id: str
    type: QuestionType
    prompt: str
    options: list[str]
    answer: str
    answer_index: int | None
    explanation: str
    source_sentence: str


class QuizStats(BaseModel):
    requested: int
    produced: int
    shortfall: int
    sentences_considered: int
    usable_facts: int
    term_pool_size: int
    by_type: dict[str, int]


class QuizOutput(BaseModel):
    """Output of the quiz generator."""

    task_type: str
    grade_level: int
    seed: int
    questions: list[QuizQuestion]
    answer_key: dict[str, str]
    stats: QuizStats
    quality_breakdown: dict[str, float]


@dataclass(slots=True)
class Draft:
    source_index: int
    question: QuizQuestion  # its id is set once the questions are in source order
    distractor_credit: float | None  # None: the question uses no distractor


def _credit(term: Term, distractors: list[Term], target: int) -> float:
    return sum(1 for d in distractors if d.kind == term.kind) / target


def _draft(
    fact: Fact,
    kind: QuestionType,
    prompt: str,
    options: list[str],
    answer: str,
    explanation: str,
    credit: float | None = None,
) -> Draft:
    question = QuizQuestion(
        id="",
        type=kind,
        prompt=prompt,
        options=options,
        answer=answer,
        answer_index=options.index(answer) if options else None,
        explanation=f'{explanation} Source: "{fact.sentence}"',
        source_sentence=fact.sentence,
    )
    return Draft(fact.index, question, credit)


def build_question(
    kind: QuestionType, fact: Fact, term: Term, pool: list[Term], rng: random.Random, options: int
) -> Draft | None:
    """One question of ``kind`` on ``term`` of ``fact``; None when it cannot be built."""
    sentence, pattern = fact.sentence, term_pattern(term.text)
    blanked = pattern.sub(BLANK, sentence)
    if kind == "fill_blank":
        prompt = f"Fill in the blank: {blanked}"
        return _draft(fact, kind, prompt, [], term.text, f'The missing term is "{term.text}".')
    if kind == "multiple_choice":
        distractors = pick_distractors(term, sentence, pool, options - 1, rng)
        if len(distractors) < 2:
            return None
        choices = [term.text] + [d.text for d in distractors]
        rng.shuffle(choices)
        prompt = f"Which answer completes the sentence? {blanked}"
        credit = _credit(term, distractors, options - 1)
        return _draft(
            fact, kind, prompt, choices, term.text, f'The answer is "{term.text}".', credit
        )
    if rng.random() < 0.5:
        prompt = f"True or false: {sentence}"
        return _draft(fact, kind, prompt, ["True", "False"], "True", "True.")
    swap = pick_distractors(term, sentence, pool, 1, rng)
    if not swap:
        return None
    prompt = "True or false: " + pattern.sub(lambda _: swap[0].text, sentence)
    why = f'False. The source says "{term.text}", not "{swap[0].text}".'
    return _draft(fact, kind, prompt, ["True", "False"], "False", why, _credit(term, swap, 1))


def score_quiz(drafts: list[Draft], requested: int, types: list[QuestionType]) -> dict[str, float]:
    """The rubric components (each in [0, 1]) described in the module docstring."""
    credits = [d.distractor_credit for d in drafts if d.distractor_credit is not None]
    variety = len({d.question.type for d in drafts}) / min(len(types), requested)
    return {
        "completeness": round(len(drafts) / requested, 4),
        "distractor_quality": round(sum(credits) / len(credits), 4) if credits else 1.0,
        "type_variety": round(variety, 4),
    }


def _make_questions(
    facts: list[Fact], data: QuizInput, requested: int, rng: random.Random
) -> list[Draft]:
    pool = list({t.text.lower(): t for f in facts for t in reversed(f.terms)}.values())
    pool.sort(key=lambda t: (t.kind, t.text.lower()))
    options = 3 if data.grade_level <= 2 else 4
    types = data.question_types
    offset = rng.randrange(len(types))
    used: set[str] = set()
    drafts: list[Draft] = []
    for fact in sorted(facts, key=lambda f: (-f.terms[0].score, f.index)):
        if len(drafts) >= requested:
            break
        term = next((t for t in fact.terms if t.text.lower() not in used), None)
        if term is None:
            continue
        start = (len(drafts) + offset) % len(types)
        for kind in types[start:] + types[:start]:
            draft = build_question(kind, fact, term, pool, rng, options)
            if draft is not None:
                used.add(term.text.lower())
                drafts.append(draft)
                break
    return sorted(drafts, key=lambda d: d.source_index)


def generate_quiz(task_type: str, data: QuizInput) -> AgentResult:
    """Handler of ``quiz_generator``: extract facts, build questions, score them."""
    if task_type not in TASK_TYPES:
        raise ValueError(
            f"unsupported task_type {task_type!r} for quiz_generator; "
            f"expected one of {', '.join(TASK_TYPES)}"
        )
    requested = data.num_questions
    if task_type == "exit_ticket":
        requested = min(requested, EXIT_TICKET_MAX)
    considered, facts = extract_facts(data)
    if not facts:
        raise ValueError(
            "content has no usable facts: need sentences of 4-80 words containing a number, "
            f"a proper noun or a word of {MIN_WORD_TERM}+ letters"
        )
    rng = random.Random(data.seed)
    drafts = _make_questions(facts, data, requested, rng)
    if not drafts:
        raise ValueError(
            "could not build any question of types "
            f"{', '.join(data.question_types)}: the content has too few distinct terms"
        )
    questions = [d.question.model_copy(update={"id": f"q{n}"}) for n, d in enumerate(drafts, 1)]
    by_type = {t: sum(1 for q in questions if q.type == t) for t in data.question_types}
    stats = QuizStats(
        requested=requested,
        produced=len(questions),
        shortfall=requested - len(questions),
        sentences_considered=considered,
        usable_facts=len(facts),
        term_pool_size=len({t.text.lower() for f in facts for t in f.terms}),
        by_type=by_type,
    )
    breakdown = score_quiz(drafts, requested, data.question_types)
    score = sum(RUBRIC_WEIGHTS[name] * value for name, value in breakdown.items())
    output = QuizOutput(
        task_type=task_type,
        grade_level=data.grade_level,
        seed=data.seed,
        questions=questions,
        answer_key={q.id: q.answer for q in questions},
        stats=stats,
        quality_breakdown=breakdown,
    )
    return AgentResult(output=output, quality_score=round(min(1.0, max(0.0, score)), 4))


EXAMPLE: dict[str, Any] = {
    "content": (
        "The Sun is the star at the centre of the Solar System. "
        "Jupiter is the largest planet in the Solar System. "
        "Mars is often called the Red Planet because of iron oxide on its surface. "
        "Earth takes about 365 days to orbit the Sun. "
        "Saturn is surrounded by bright rings made of ice and rock."
    ),
    "num_questions": 4,
    "question_types": ["multiple_choice", "true_false", "fill_blank"],
    "grade_level": 5,
    "seed": 7,
}

SPEC = register(
    AgentSpec(
        agent_type="quiz_generator",
        description=(
            "Quiz questions (multiple choice, true/false, fill in the blank) with answer key "
            "and distractors drawn from the given content or key facts"
        ),
        input_model=QuizInput,
        output_model=QuizOutput,
        handler=generate_quiz,
        task_types=TASK_TYPES,
        example=EXAMPLE,
        example_task_type="quiz",
        soft_time_limit=30.0,
        time_limit=45.0,
        max_retries=2,
    )
)
