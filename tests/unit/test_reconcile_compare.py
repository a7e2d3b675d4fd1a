"""compare.py's rules (issue 23) on rows of the in-memory store: each kind, and what is
not a difference (a message in the broker, a young row, a dead letter, a final row)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from persistence.lifecycle import TaskStatus, Transition
from tests.support.memory_store import InMemoryStore
from workers.reconcile.broker_view import Sighting
from workers.reconcile.compare import STUCK_SLACK_S, Facts, compare
from workers.reconcile.kinds import KINDS, WHERE_DEAD, WHERE_UNACKED
from workers.reconcile.record_view import open_rows_of

T0 = 1_800_000_000.0
AGENT = "quiz_generator"


def _t(
    task_id: str, status: str, at: float, attempt: int = 0, worker: str | None = None
) -> Transition:
    return Transition(
        event_id=uuid.uuid4(),
        task_id=task_id,
        status=TaskStatus(status),
        attempt=attempt,
        occurred_at=datetime.fromtimestamp(at, UTC),
        agent_type=AGENT,
        task_type="quiz",
        worker=worker,
        request={"input_data": {}} if status == "pending" else None,
    )


def _store(*transitions: Transition) -> InMemoryStore:
    store = InMemoryStore()
    store.record(list(transitions))
    return store


def _kinds(
    store: InMemoryStore, seen: dict[str, Sighting], **facts: object
) -> dict[str, list[str]]:
    base: dict[str, object] = {"now": T0 + 1000, "grace_s": 300.0}
    found = compare(open_rows_of(store.executions.values()), seen, Facts(**{**base, **facts}))  # type: ignore[arg-type]
    return {k: sorted(f.task_id for f in v) for k, v in found.by_kind.items() if v}


def _msg(task_id: str, where: str = AGENT, expires: float | None = None) -> Sighting:
    return Sighting(task_id, AGENT, 0, where, expires)


def test_a_queued_row_without_its_message_is_lost_only_after_the_grace() -> None:
    store = _store(
        _t("old", "pending", T0), _t("old", "queued", T0), _t("young", "queued", T0 + 900)
    )
    assert _kinds(store, {}) == {"lost": ["old"]}
    assert _kinds(store, {}, grace_s=5000) == {}


def test_a_message_anywhere_means_not_lost() -> None:
    store = _store(_t("a", "queued", T0), _t("b", "queued", T0), _t("c", "queued", T0))
    seen = {"a": _msg("a"), "b": _msg("b", WHERE_UNACKED), "c": _msg("c", WHERE_DEAD)}
    assert _kinds(store, seen) == {}


def test_a_retrying_row_waits_for_its_next_message_too() -> None:
    store = _store(_t("r", "retrying", T0, attempt=1, worker="w1"))
    assert _kinds(store, {}) == {"lost": ["r"]}


def test_a_revoked_task_is_revoked_not_lost() -> None:
    store = _store(_t("x", "queued", T0))
    assert _kinds(store, {}, revoked=frozenset({"x"})) == {"revoked": ["x"]}


def test_an_expired_message_still_waiting_is_expired() -> None:
    store = _store(_t("e", "queued", T0), _t("f", "queued", T0))
    seen = {"e": _msg("e", expires=T0), "f": _msg("f", expires=T0 + 900)}
    assert _kinds(store, seen) == {"expired": ["e"]}


def test_running_on_a_gone_worker_or_past_the_limit_is_stuck() -> None:
    store = _store(
        _t("gone", "running", T0 + 990, worker="w-dead"),
        _t("long", "running", T0, worker="w1"),
        _t("fine", "running", T0 + 990, worker="w1"),
    )
    online = frozenset({"w1"})
    assert _kinds(store, {}, online_workers=online, time_limits={AGENT: 90.0}) == {
        "stuck": ["gone", "long"]
    }
    limit = 1000 - STUCK_SLACK_S  # "long" ran 1000 s: within limit + slack
    assert _kinds(store, {}, online_workers=online, time_limits={AGENT: limit}) == {
        "stuck": ["gone"]
    }


def test_a_message_without_any_row_is_unrecorded_after_the_grace() -> None:
    store = _store(_t("done", "pending", T0), _t("done", "completed", T0, worker="w1"))
    seen = {"new": _msg("new"), "done": _msg("done"), "dead": _msg("dead", WHERE_DEAD)}
    now = T0 + 1000
    assert _kinds(store, seen, recorded=frozenset({"done"}), first_seen={"new": now}) == {}
    assert _kinds(store, seen, recorded=frozenset({"done"}), first_seen={"new": now - 301}) == {
        "unrecorded": ["new"]
    }


def test_a_final_row_is_never_a_difference() -> None:
    store = _store(
        _t("c", "completed", T0, worker="w1"),
        _t("f", "failed", T0, worker="w1"),
        _t("x", "cancelled", T0),
    )
    assert _kinds(store, {}) == {}
    assert set(KINDS) == {"lost", "unrecorded", "stuck", "expired", "revoked"}


def test_a_run_on_a_gone_worker_whose_message_is_nowhere_is_to_be_published_again() -> None:
    store = _store(
        _t("here", "running", T0, worker="gone"), _t("nowhere", "running", T0, worker="gone")
    )
    rows = open_rows_of(store.executions.values())
    facts = Facts(now=T0 + 1000, grace_s=300.0, time_limits={AGENT: 90.0})
    found = compare(rows, {"here": _msg("here", WHERE_UNACKED)}, facts).by_kind["stuck"]
    assert {f.task_id: f.republish for f in found} == {"here": False, "nowhere": True}
    young = Facts(now=T0 + 200, grace_s=300.0, time_limits={AGENT: 90.0})
    assert not any(f.republish for f in compare(rows, {}, young).by_kind["stuck"])
