"""Computation helpers of the roblox analytics agent (``roblox_analytics``).

Pure functions over validated events: duplicate detection (``find_duplicates``),
session building with repeated and impossible events (``build_sessions``), session
length statistics and outliers (``percentile``, ``session_stats``, ``length_outliers``),
too-fast quiz answers (``fast_answers``), the completion funnel (``default_funnel``,
``reached_sets``, ``build_funnel``), per-question accuracy (``question_stats``) and
per-user summaries (``user_summaries``). ``tasks.agents.roblox_analytics`` documents
the behaviour, re-exports these names and assembles the report from them.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from itertools import pairwise

from tasks.agents.roblox_analytics.models import (
    Anomaly,
    AnomalyKind,
    Bucket,
    Event,
    FunnelStep,
    QuestionStats,
    Session,
    SessionStats,
    UserSummary,
)

MAX_SESSION_SECONDS = 24 * 3600
MIN_ANSWER_GAP_SECONDS = 1.0
TOO_HARD, TOO_EASY = 0.3, 0.95
MAX_INDICES = 20
HISTOGRAM_EDGES: tuple[int, ...] = (0, 5, 10, 15, 30, 60, 120)  # minutes; the last is open


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
