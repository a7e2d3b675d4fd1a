"""Pure helpers of the content generator (``tasks.agents.content``): the section plan and
its minute split, reading levels by grade, Bloom's-taxonomy verb classification with the
activity templates per level, objective text normalisation and vocabulary extraction
(with its word lists). Nothing here depends on the content generator's models, so the
agent module imports from this one and never the other way round.
"""

from __future__ import annotations

import re
from typing import Literal

SectionKind = Literal[
    "intro",
    "direct_instruction",
    "guided_practice",
    "independent_practice",
    "assessment",
    "closure",
]

# (kind, title, percent of the duration); the percentages sum to 100.
SECTION_PLAN: tuple[tuple[SectionKind, str, int], ...] = (
    ("intro", "Introduction", 10),
    ("direct_instruction", "Direct instruction", 25),
    ("guided_practice", "Guided practice", 20),
    ("independent_practice", "Independent practice", 25),
    ("assessment", "Assessment", 12),
    ("closure", "Closure", 8),
)

_BLOOM: dict[str, tuple[str, ...]] = {
    "remember": ("identify", "list", "name", "define", "recall", "label", "recognize", "state"),
    "understand": ("explain", "describe", "summarize", "classify", "interpret", "discuss"),
    "apply": ("use", "apply", "solve", "demonstrate", "calculate", "compute", "measure"),
    "analyze": ("compare", "contrast", "analyze", "distinguish", "examine", "categorize"),
    "evaluate": ("evaluate", "justify", "judge", "argue", "critique", "assess", "defend"),
    "create": ("create", "design", "write", "compose", "build", "plan", "construct"),
}
BLOOM_LEVEL_OF_VERB: dict[str, str] = {v: level for level, verbs in _BLOOM.items() for v in verbs}

# (guided practice, independent practice, assessment check) per Bloom level.
ACTIVITY_TEMPLATES: dict[str, tuple[str, str, str]] = {
    "remember": (
        "Matching game in pairs: {action}",
        "Flash-card self-check: {action} from memory",
        "Exit quiz: students {action} without notes",
    ),
    "understand": (
        "Think-pair-share: {action} in your own words",
        "Short written response: {action}",
        "Students {action} in two or three sentences using the key terms",
    ),
    "apply": (
        "Worked example, then one together: {action}",
        "Practice set of three new problems: {action}",
        "Students {action} on an unseen example; check the steps and the result",
    ),
    "analyze": (
        "Sort-and-group activity in small groups: {action}",
        "Graphic organizer (T-chart or Venn diagram): {action}",
        "Students {action} and justify one connection in writing",
    ),
    "evaluate": (
        "Structured discussion with sentence stems: {action}",
        "Written claim with evidence: {action}",
        "Students {action} with a claim and two pieces of evidence",
    ),
    "create": (
        "Plan together with a success-criteria checklist: {action}",
        "Independent product: {action}",
        "Checklist review of the product: students {action}",
    ),
}
GENERIC_TEMPLATES: tuple[str, str, str] = (
    "Guided discussion: {action}",
    "Reflection journal: {action}",
    "Teacher observation: can students {action}?",
)

# (highest grade, hint, sentence-length limit in words)
READING_LEVELS: tuple[tuple[int, str, int], ...] = (
    (2, "Emergent reader: short sentences, picture support, read the text aloud.", 8),
    (5, "Developing reader: simple sentences, bold key words, guided reading.", 15),
    (8, "Intermediate reader: multi-step directions, some subject terms.", 20),
    (12, "Advanced reader: subject vocabulary, longer texts, independent reading.", 25),
)

_STOPWORD_TEXT = (  # only words of 6+ letters matter (shorter ones are never terms)
    "against because before between different during learning lesson should student "
    "students themselves through within without"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_PREFIX = re.compile(
    r"^(?:students\s+will\s+(?:be\s+able\s+to\s+)?|swbat\s+|i\s+can\s+|(?:be\s+able\s+)?to\s+)",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def allocate_minutes(duration: int) -> list[int]:
    """Split ``duration`` over the sections by SECTION_PLAN (largest remainder, ties in order)."""
    exact = [duration * pct for _, _, pct in SECTION_PLAN]
    minutes = [value // 100 for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] % 100), i))
    for i in by_remainder[: duration - sum(minutes)]:
        minutes[i] += 1
    return minutes


def reading_level(grade: int) -> tuple[str, int]:
    """The reading-level hint and the sentence-length limit (words) for ``grade``."""
    for top, hint, limit in READING_LEVELS:
        if grade <= top:
            return f"Grade {grade}. {hint} Keep sentences to {limit} words or fewer.", limit
    raise ValueError(f"grade_level {grade} is outside 1-12")


def objective_action(objective: str) -> str:
    """The objective as a verb phrase: prefix ("Students will ...") and final dot removed."""
    text = _PREFIX.sub("", objective.strip()).rstrip(" .!;")
    if len(text) > 1 and not text[:2].isupper():
        text = text[0].lower() + text[1:]
    return text


def normalize_objective(text: str) -> str:
    """``text`` lower-cased, whitespace collapsed and a final dot removed (for repeats)."""
    return " ".join(text.lower().split()).rstrip(".")


def contains_term(text: str, term: str) -> bool:
    """Whether ``term`` occurs in ``text`` as a whole word or phrase, ignoring case."""
    return re.search(rf"(?<!\w){re.escape(term.lower())}(?!\w)", text.lower()) is not None


def bloom_level(action: str) -> str | None:
    """The Bloom level of the verb phrase ``action``'s leading verb; None when unknown."""
    verb = action.split()[0].lower() if action else ""
    return BLOOM_LEVEL_OF_VERB.get(verb)


def extract_terms(objectives: list[str], limit: int = 5) -> list[str]:
    """Longest distinct content words of the objectives (no Bloom verbs, no stopwords)."""
    seen: dict[str, int] = {}
    for objective in objectives:
        for match in _WORD.finditer(objective_action(objective)):
            word = match.group().lower().strip("'-")
            if len(word) >= 6 and word not in _STOPWORDS and word not in BLOOM_LEVEL_OF_VERB:
                seen.setdefault(word, len(seen))
    return sorted(seen, key=lambda w: (-len(w), seen[w]))[:limit]
