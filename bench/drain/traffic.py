"""The stream's content: every transition of N tasks, entries as the hooks write them.

One task is one of four histories (the mix of ``OUTCOMES``), each entry a JSON list of
wire events (``persistence/wire.py``) in field ``e``, exactly what
``workers/recording/signals.py`` XADDs:

    ok          [pending, queued] [running 0] [completed 0]                      4 transitions
    fail        [pending, queued] [running 0] [failed 0 + traceback]             4
    retry_ok    [pending, queued] [running 0] [queued 1] [retrying 0] [running 1] [completed 1]
    retry_fail  ... as retry_ok, then [failed 1]                                 7

Phases (enqueue, start, end of attempt 0, start of attempt 1, end) of task ``i`` go to
stream position ``i + phase * spread``: the traffic of a busy fleet, where a task's
entries are ``spread`` tasks apart (at 5 000 tasks/s the default 500 is 0.1 s of queue
wait and 0.1 s of run time), so they land in different recorder batches: the row is
inserted by one batch and updated by the next ones, the dear case for the database.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis

from persistence import wire
from persistence.lifecycle import stable_event_id
from persistence.schema import AGENT_TYPE_VALUES
from workers.recording.recorder import GROUP

STREAM = "agentq:events"
# share of tasks per history; the rest of the mix is "ok"
OUTCOMES = (("fail", 0.03), ("retry_ok", 0.05), ("retry_fail", 0.02))
RATE = 5000.0  # tasks/s the event times pretend to (for timestamps only)
_TRACEBACK = (
    "Traceback (most recent call last):\n"
    + '  File "/app/tasks/agents/base.py", line 118, in run\n    return self.generate(req)\n' * 12
    + "ValueError: the model returned no usable content"
)


@dataclass
class Traffic:
    entries: list[bytes]  # payloads in stream order
    transitions: int
    # task_id, final status, retry_count, runs (running events): what each row must hold
    expected: list[tuple[str, str, int, int]]
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def terminal(self) -> dict[str, int]:
        out = {"completed": 0, "failed": 0}
        for _, status, _, _ in self.expected:
            out[status] += 1
        return out


def _rid(at: float, v7: bool) -> str:
    """A hook's random event id: uuid4, or (``--v7-ids``) a uuid v7 of the event's time, so
    the history's primary key grows at its right edge instead of anywhere (RFC 9562)."""
    if not v7:
        return uuid.uuid4().hex
    rand = uuid.uuid4().int & ((1 << 74) - 1)
    value = (int(at * 1000) << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62)
    return f"{value | (rand & ((1 << 62) - 1)):032x}"


def _outcome(rng: random.Random) -> str:
    x = rng.random()
    for name, share in OUTCOMES:
        if x < share:
            return name
        x -= share
    return "ok"


def _task(
    i: int, rng: random.Random, workers: int, t0: float, spread: int, v7: bool = False
) -> tuple[Any, ...]:
    """(task_id, outcome, phases): phases[k] is a list of entries (lists of events)."""
    tid = str(uuid.uuid4())
    ag = AGENT_TYPE_VALUES[i % len(AGENT_TYPE_VALUES)]
    tt = "generate"
    outcome = _outcome(rng)

    def at(phase: int) -> float:
        return t0 + (i + phase * spread) / RATE + rng.random() / RATE

    def w() -> str:
        return f"celery@bench-{rng.randrange(workers)}"

    request = {
        "input_data": {"topic": f"fractions, lesson {i % 97}", "grade": i % 12, "length": "medium"},
        "user_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "session_id": f"sess-{i % 5000}",
        "priority": "normal",
    }
    pending = wire.transition(
        stable_event_id(tid, 0, "pending").hex, tid, "pending", 0, at(0), ag, tt, request=request
    )
    queued = wire.transition(stable_event_id(tid, 0, "queued").hex, tid, "queued", 0, at(0), ag, tt)
    phases: list[list[list[dict[str, Any]]]] = [[[pending, queued]]]
    attempts = 2 if outcome.startswith("retry") else 1
    for a in range(attempts):
        worker = w()
        start, end = at(1 + 2 * a), at(2 + 2 * a)
        phases.append(
            [[wire.transition(_rid(start, v7), tid, "running", a, start, ag, tt, worker)]]
        )
        took = round(end - start, 6)
        if a + 1 < attempts:  # retry(): the new message is published, then task_retry fires
            q = stable_event_id(tid, a + 1, "queued").hex
            err = {"error_message": "rate limited", "error_type": "RateLimitError"}
            phases.append(
                [
                    [wire.transition(q, tid, "queued", a + 1, end, ag, tt)],
                    [
                        wire.transition(
                            _rid(end, v7),
                            tid,
                            "retrying",
                            a,
                            end + 1e-4,
                            ag,
                            tt,
                            worker,
                            result={**err, "execution_time_seconds": took},
                        )
                    ],
                ]
            )
        elif outcome.endswith("fail"):
            result = {
                "error_message": "the model returned no usable content",
                "error_type": "ValueError",
                "execution_time_seconds": took,
                "traceback": _TRACEBACK,
            }
            ev = wire.transition(
                _rid(end, v7), tid, "failed", a, end, ag, tt, worker, result=result
            )
            phases.append([[ev]])
        else:
            result = {
                "output_data": {
                    "text": f"Lesson {i}: " + "a fraction names part of a whole. " * 6,
                    "tokens": 180 + i % 50,
                },
                "quality_score": round(0.5 + rng.random() / 2, 3),
                "execution_time_seconds": took,
            }
            ev = wire.transition(
                _rid(end, v7), tid, "completed", a, end, ag, tt, worker, result=result
            )
            phases.append([[ev]])
    return tid, outcome, phases


def build(tasks: int, *, workers: int, spread: int, seed: int = 14, v7: bool = False) -> Traffic:
    rng = random.Random(seed)
    t0 = time.time() - (tasks + 6 * spread) / RATE - 60  # every event in the past
    buckets: list[list[bytes]] = [[] for _ in range(tasks + 5 * spread)]
    expected: list[tuple[str, str, int, int]] = []
    outcomes: dict[str, int] = {}
    transitions = 0
    for i in range(tasks):
        tid, outcome, phases = _task(i, rng, workers, t0, spread, v7)
        for k, phase in enumerate(phases):
            for entry in phase:
                buckets[i + k * spread].append(wire.encode(entry))
                transitions += len(entry)
        retries = 1 if outcome.startswith("retry") else 0
        final = "failed" if outcome.endswith("fail") else "completed"
        expected.append((tid, final, retries, retries + 1))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    entries = [payload for bucket in buckets for payload in bucket]
    return Traffic(entries, transitions, expected, outcomes)


def reset_stream(r: redis.Redis) -> None:
    """An empty stream with the recorders' group, from its start; no progress, no dead letters."""
    r.delete(STREAM, STREAM + ":dead", STREAM + ":progress")
    r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)


def fill(r: redis.Redis, traffic: Traffic, chunk: int = 2000) -> None:
    """XADD every entry (pipelined: filling is not what is measured)."""
    for start in range(0, len(traffic.entries), chunk):
        pipe = r.pipeline(transaction=False)
        for payload in traffic.entries[start : start + chunk]:
            pipe.xadd(STREAM, {"e": payload})
        pipe.execute()
