"""Hypothesis strategies for valid lifecycle transition sequences.

A valid sequence is what the hooks of one execution can emit: pending, queued,
then per attempt running (once, or more when the message is redelivered) and
retrying → queued(next attempt), ending in completed, failed or cancelled; or a
prefix of that (the execution is still in flight).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from persistence.lifecycle import TaskStatus, Transition

S = TaskStatus
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def valid_sequences(draw: st.DrawFn, task_id: str | None = None) -> list[Transition]:
    task_id = task_id or str(uuid.UUID(int=draw(st.integers(0, 2**64))))
    retries = draw(st.integers(0, 3))
    ending = draw(st.sampled_from([S.COMPLETED, S.FAILED, S.CANCELLED]))
    clock = [0.0]

    def t(
        status: TaskStatus,
        attempt: int,
        worker: str | None = None,
        result: dict[str, object] | None = None,
        request: dict[str, object] | None = None,
    ) -> Transition:
        clock[0] += draw(st.floats(0.001, 2.0))
        return Transition(
            event_id=uuid.uuid5(uuid.UUID(int=0), f"{task_id}:{clock[0]}"),
            task_id=task_id,
            status=status,
            attempt=attempt,
            occurred_at=T0 + timedelta(seconds=clock[0]),
            agent_type="content_generator",
            task_type="lesson",
            worker=worker,
            request=request,
            result=result,
        )

    seq = [
        t(
            S.PENDING,
            0,
            request={
                "input_data": {"topic": "fractions"},
                "session_id": "s1",
                "user_id": None,
                "priority": "high",
            },
        ),
        t(S.QUEUED, 0),
    ]
    for attempt in range(retries + 1):
        runs = draw(st.integers(1, 2))  # 2 = redelivered after a crash
        for _ in range(runs):
            seq.append(t(S.RUNNING, attempt, worker=f"w{draw(st.integers(1, 3))}@host"))
        worker = seq[-1].worker
        if attempt < retries:
            seq.append(
                t(
                    S.RETRYING,
                    attempt,
                    worker,
                    result={"error_message": f"flaky {attempt}", "error_type": "Flaky"},
                )
            )
            seq.append(t(S.QUEUED, attempt + 1))
    last_worker = seq[-1].worker
    if ending is S.COMPLETED:
        seq.append(
            t(
                S.COMPLETED,
                retries,
                last_worker,
                result={
                    "output_data": {"ok": retries},
                    "quality_score": 0.75,
                    "execution_time_seconds": 1.5,
                },
            )
        )
    elif ending is S.FAILED:
        seq.append(
            t(
                S.FAILED,
                retries,
                last_worker,
                result={
                    "error_message": "gave up",
                    "error_type": "Boom",
                    "execution_time_seconds": 0.5,
                },
            )
        )
    else:
        seq.append(
            t(
                S.CANCELLED,
                retries,
                last_worker,
                result={"error_message": "task revoked", "error_type": "Revoked"},
            )
        )
    if draw(st.booleans()):  # still in flight: any non-empty prefix
        seq = seq[: draw(st.integers(1, len(seq)))]
    return seq


@st.composite
def shuffled_with_duplicates(draw: st.DrawFn, seq: list[Transition]) -> list[Transition]:
    """``seq`` in any order, some transitions delivered two or three times."""
    extra = draw(st.lists(st.sampled_from(seq), max_size=len(seq)))
    return draw(st.permutations(seq + extra))


@st.composite
def batches(draw: st.DrawFn, seq: list[Transition]) -> list[list[Transition]]:
    """``seq`` cut into consecutive batches, as a recorder would read them."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(seq) - 1)), max_size=4))))
    out, start = [], 0
    for c in [*cuts, len(seq)]:
        if c > start:
            out.append(seq[start:c])
            start = c
    return out
