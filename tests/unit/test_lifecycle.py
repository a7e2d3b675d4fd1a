"""The precedence rule: any order, any duplicates, any batching → the same row."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persistence.lifecycle import RANK, TaskStatus, fold, merge, patches
from tests.support.memory_store import InMemoryStore
from tests.support.sequences import batches, shuffled_with_duplicates, valid_sequences

S = TaskStatus


def _row(store: InMemoryStore, task_id: str) -> dict[str, object]:
    return dataclasses.asdict(store.executions[task_id])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_order_with_duplicates_gives_the_same_row(data: st.DataObject) -> None:
    seq = data.draw(valid_sequences())
    expected = fold(seq)
    shuffled = data.draw(shuffled_with_duplicates(seq))
    assert fold(shuffled) == expected


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_batched_recording_in_the_store_matches_one_by_one(data: st.DataObject) -> None:
    seq = data.draw(valid_sequences())
    expected = fold(seq)
    store = InMemoryStore()
    for batch in data.draw(batches(data.draw(shuffled_with_duplicates(seq)))):
        store.record(batch)
    assert store.executions[seq[0].task_id] == expected
    # History keeps each distinct event exactly once.
    assert len(store.events) == len({t.event_id for t in seq})


@settings(max_examples=200)
@given(valid_sequences())
def test_final_state_is_the_greatest_transition(seq: list) -> None:
    row = fold(seq)
    assert row is not None
    top = max(seq, key=lambda t: (t.attempt, RANK[t.status], t.occurred_at))
    assert (row.status, row.retry_count) == (top.status, top.attempt)
    runs = sum(1 for t in seq if t.status is S.RUNNING)
    assert row.attempts == runs
    if row.status is S.COMPLETED:
        assert row.error_message is None and row.quality_score == 0.75
    if any(t.status is S.PENDING for t in seq):
        assert row.input_data == {"topic": "fractions"} and row.priority == "high"


def test_terminal_status_is_never_overwritten_by_a_late_event() -> None:
    from tests.support.sequences import T0  # noqa: F401

    seq = [t for t in _complete_sequence() if t.status is not S.PENDING]
    completed = seq[-1]
    row = fold([completed, *seq[:-1]])
    assert row is not None and row.status is S.COMPLETED
    assert row.output_data == {"ok": 0}


def test_queued_after_completed_race_keeps_completed() -> None:
    """The race the notes measured: the producer's queued lands after completed."""
    seq = _complete_sequence()
    pending, queued, running, completed = seq
    row = fold([pending, running, completed, queued])
    assert row is not None and row.status is S.COMPLETED
    assert row.input_data == {"topic": "fractions"}


def test_patches_of_a_batch_merge_like_single_events() -> None:
    seq = _complete_sequence()
    one_patch = patches(seq)[seq[0].task_id]
    assert merge(None, one_patch) == fold(seq)


def _complete_sequence() -> list:
    import uuid
    from datetime import timedelta

    from persistence.lifecycle import Transition
    from tests.support.sequences import T0

    def t(status: S, sec: float, **kw: object) -> Transition:
        return Transition(
            uuid.uuid4(),
            "task-1",
            status,
            0,
            T0 + timedelta(seconds=sec),
            "content_generator",
            "lesson",
            **kw,
        )  # type: ignore[arg-type]

    return [
        t(S.PENDING, 0, request={"input_data": {"topic": "fractions"}}),
        t(S.QUEUED, 0.1),
        t(S.RUNNING, 1, worker="w@h"),
        t(S.COMPLETED, 2, worker="w@h", result={"output_data": {"ok": 0}, "quality_score": 1.0}),
    ]
