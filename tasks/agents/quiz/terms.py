"""Fact and term extraction and distractor selection for the quiz generator
(``tasks.agents.quiz``): sentence splitting, candidate answer terms (numbers, proper
nouns, long non-stopword words) ranked best first, usable facts from the input's
``content`` and ``key_facts``, nearby-number variants and seeded distractor picking,
with the word lists they use. It reads the input through the small ``FactSource``
protocol, so it never imports the quiz module (no circular import).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal, Protocol

TermKind = Literal["number", "proper", "word"]

MIN_WORDS, MAX_WORDS, MIN_WORD_TERM = 4, 80, 6

_STOPWORD_TEXT = (
    "a an and are as at be but by for from had has have he her his how i if in into is it "
    "its of on or our she so than that the their then there these they this those to was "
    "we were what when where which while who why will with you about after again also "
    "another around because before between called during however including known many "
    "other should students student lesson through within without would could every "
    "identify explain describe compare understand"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[A-Za-z][A-Za-z'-]*")


class FactSource(Protocol):
    """What ``extract_facts`` reads of the quiz input (``QuizInput`` satisfies it)."""

    @property
    def content(self) -> str | None: ...

    @property
    def key_facts(self) -> list[str] | None: ...


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    kind: TermKind
    score: float
    start: int


@dataclass(slots=True)
class Fact:
    index: int
    sentence: str
    terms: list[Term]


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, whitespace collapsed, empty ones dropped."""
    return [" ".join(s.split()) for s in _SENTENCE_END.split(text) if s.strip()]


def candidate_terms(sentence: str, lowercase_words: frozenset[str] = frozenset()) -> list[Term]:
    """The sentence's candidate answer terms, best first (see the module docstring).

    A capitalised word opening the sentence counts as a proper noun only when it never
    appears in lower case in ``lowercase_words`` (the whole text's lower-case words)."""
    tokens = list(_TOKEN.finditer(sentence))
    terms: list[Term] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i].group()
        if tok[0].isdigit():
            terms.append(Term(tok, "number", 3.0, tokens[i].start()))
        elif tok[0].isupper() and tok.lower() not in _STOPWORDS:
            j = i
            while (
                j + 1 < len(tokens)
                and tokens[j + 1].group()[0].isupper()
                and sentence[tokens[j].end() : tokens[j + 1].start()] == " "
            ):
                j += 1
            if j > i or i > 0 or tok.lower() not in lowercase_words:
                text = sentence[tokens[i].start() : tokens[j].end()].removesuffix("'s")
                terms.append(Term(text, "proper", 2.5 + 0.5 * (j - i), tokens[i].start()))
                i = j + 1
                continue
        if tok[0].isalpha():
            word = tok.removesuffix("'s").strip("'-")
            if len(word) >= MIN_WORD_TERM and word.lower() not in _STOPWORDS:
                terms.append(Term(word, "word", 1.0 + min(len(word), 15) / 10, tokens[i].start()))
        i += 1
    unique = {t.text.lower(): t for t in reversed(terms)}  # keeps each term's first occurrence
    return sorted(unique.values(), key=lambda t: (-t.score, t.start))


def extract_facts(data: FactSource) -> tuple[int, list[Fact]]:
    """(sentences considered, usable facts) from ``content`` then ``key_facts``."""
    sentences = split_sentences(data.content or "")
    for item in data.key_facts or []:
        sentences.extend(split_sentences(item))
    lowercase_words = frozenset(w for s in sentences for w in _TOKEN.findall(s) if w[0].islower())
    seen: set[str] = set()
    facts: list[Fact] = []
    for sentence in sentences:
        key = sentence.lower()
        if key in seen or not MIN_WORDS <= len(_TOKEN.findall(sentence)) <= MAX_WORDS:
            continue
        seen.add(key)
        terms = candidate_terms(sentence, lowercase_words)
        if terms:
            facts.append(Fact(len(facts), sentence, terms))
    return len(sentences), facts


def term_pattern(term: str) -> re.Pattern[str]:
    """``term`` as a whole word or phrase, ignoring case."""
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


def number_variants(text: str) -> list[Term]:
    """Nearby whole numbers (two steps of about 10% either side) for a whole-number answer."""
    if not text.isdigit():
        return []
    value = int(text)
    step = max(1, value // 10)
    values = [value + d * step for d in (-2, -1, 1, 2, 3)]
    return [Term(str(v), "number", 0.0, -1) for v in values if v >= 0][:4]


def pick_distractors(
    term: Term, sentence: str, pool: list[Term], k: int, rng: random.Random
) -> list[Term]:
    """Up to ``k`` distinct pool terms, same kind as ``term`` first, none equal to it,
    containing it, contained in it or present in ``sentence``; a whole-number answer
    short of same-kind terms also gets nearby numbers."""
    answer, text = term.text.lower(), sentence.lower()

    def allowed(candidate: Term) -> bool:
        low = candidate.text.lower()
        return low not in text and low not in answer and answer not in low

    same = [c for c in pool if c.kind == term.kind and allowed(c)]
    if term.kind == "number" and len(same) < k:
        taken = {c.text for c in same}
        same += [v for v in number_variants(term.text) if allowed(v) and v.text not in taken]
    chosen = rng.sample(same, min(k, len(same)))
    if len(chosen) < k:
        other = [c for c in pool if c.kind != term.kind and allowed(c)]
        chosen += rng.sample(other, min(k - len(chosen), len(other)))
    return chosen
