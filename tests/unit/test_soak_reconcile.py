"""The soak's reconciler parts that need no fleet: which messages ``broker_loss`` may
delete, what the fleet's beat is told, and the verdict on the repairs and on the final
reconcile. (The deletion on a real Redis: ``tests/integration/test_soak_broker_loss.py``;
the fleet itself runs in ``.ci/run``.)"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from workers.routing import task_name
from workers.soak import broker_loss, reconciled
from workers.soak.broker_loss import Candidate, choose, plain_task
from workers.soak.evidence import broker_loss_repairs
from workers.soak.faults import PROOF, Fault, seeded_offsets
from workers.soak.run import Soak, SoakOptions
from workers.soak.verify import Verdict

NOW = 1_800_000_000.0


def _message(task: str, task_id: str, eta: float | None = None) -> bytes:
    headers: dict[str, Any] = {"task": task, "id": task_id}
    if eta is not None:
        headers["eta"] = datetime.fromtimestamp(eta, UTC).isoformat()
    return json.dumps({"headers": headers, "body": "", "properties": {}}).encode()


def _queued(task_id: str) -> Candidate:
    return Candidate("queue", "content_generator", b"m-" + task_id.encode(), task_id, None)


def _held(task_id: str, eta: float) -> Candidate:
    return Candidate("unacked", "tag-" + task_id, b"e-" + task_id.encode(), task_id, eta)


def test_only_plain_agent_tasks_are_candidates() -> None:
    plain = task_name("quiz_generator")
    assert plain_task(_message(plain, "t1")) == ("t1", None)
    assert plain_task(_message(plain, "t2", eta=NOW)) == ("t2", NOW)
    for task in (plain + ".drill", plain + ".soak_slow", "agentq.beat.reap", "agents.nope"):
        assert plain_task(_message(task, "t3")) is None, task
    for raw in (b"not json", b"[1, 2]", b'{"headers": {"task": 1}}', b"{}"):
        assert plain_task(raw) is None, raw
    bad_eta = json.dumps({"headers": {"task": plain, "id": "t", "eta": "soon"}}).encode()
    assert plain_task(bad_eta) is None
    number_id = json.dumps({"headers": {"task": plain, "id": 7}}).encode()
    assert plain_task(number_id) is None


def test_every_priority_sub_queue_of_every_agent_queue_is_scanned() -> None:
    keys = broker_loss.queue_keys()
    assert len(keys) == 8 * 10
    assert "content_generator" in keys and "content_generator:9" in keys
    assert "content_generator:0" not in keys  # priority 0 is the queue's own key
    assert not any(k.startswith("agentq.beat") for k in keys)


def test_the_held_entry_s_message_is_read_back() -> None:
    msg = _message(task_name("code_reviewer"), "t1")
    entry = b"[" + msg + b',"ex","rk"]'
    held = broker_loss.held_message(entry)
    assert held is not None and plain_task(held) == ("t1", None)
    assert broker_loss.held_message(b"junk") is None
    assert broker_loss.held_message(b"[]") is None


def test_the_choice_keeps_to_the_plan_s_plain_jobs_and_is_the_seed_s() -> None:
    kinds = {f"q{i}": "ok" for i in range(20)}
    kinds |= {"drill": "retry", "slow": "slow", "cd-late": "countdown", "cd-soon": "countdown"}
    kinds |= {f"cd{i}": "countdown" for i in range(10)}
    candidates = [_queued(t) for t in kinds if t.startswith("q")]
    candidates += [_queued("drill"), _queued("slow"), _queued("poison-without-a-plan")]
    candidates += [_held(f"cd{i}", NOW + 30) for i in range(10)]
    candidates += [_held("cd-soon", NOW + 1), _held("q0", NOW + 30)]  # q0 is not a countdown

    chosen = choose(candidates, kinds, (6, 3), random.Random(3), NOW)
    assert chosen == choose(list(reversed(candidates)), kinds, (6, 3), random.Random(3), NOW)
    assert chosen != choose(candidates, kinds, (6, 3), random.Random(4), NOW)
    assert len(chosen) == 9
    held = [c for c in chosen if c.where == "unacked"]
    assert len(held) == 3
    assert all(c.task_id.startswith("cd") and c.task_id != "cd-soon" for c in held)
    queued = [c for c in chosen if c.where == "queue"]
    assert all(kinds[c.task_id] == "ok" for c in queued)

    # fewer candidates than asked: all of them, each task once (a retried publish is two)
    few = [_queued("q1"), _queued("q1"), _queued("q2")]
    assert sorted(c.task_id for c in choose(few, kinds, (9, 3), random.Random(3), NOW)) == [
        "q1",
        "q2",
    ]
    assert choose(candidates, {}, (6, 3), random.Random(3), NOW) == []
    assert choose(candidates, kinds, (0, 0), random.Random(3), NOW) == []


def test_the_count_is_seeded_and_scaled() -> None:
    assert broker_loss.seeded_count(random.Random(1), 1.0) == broker_loss.seeded_count(
        random.Random(1), 1.0
    )
    assert all(20 <= broker_loss.seeded_count(random.Random(s), 1.0) <= 40 for s in range(50))
    assert all(6 <= broker_loss.seeded_count(random.Random(s), 0.3) <= 12 for s in range(50))
    assert broker_loss.seeded_count(random.Random(1), 0.1) >= 5


def test_broker_loss_is_in_the_default_plan_and_counts_only_with_repairs() -> None:
    assert "broker_loss" in seeded_offsets(random.Random(1), 0.3)
    assert PROOF["broker_loss"] == ("deleted", "repaired")
    soak = Soak(SoakOptions(scale=0.3))
    assert "broker_loss" in [f.kind for f in soak.faults(random.Random(1))]
    fault = Fault("broker_loss", 1.0, 0, lambda f: None)
    fault.evidence.update(deleted=5, repaired=0)
    assert not fault.took_effect
    fault.evidence["repaired"] = 5
    assert fault.took_effect
    soak.workdir.rmdir()


def test_the_fleet_s_beat_repairs_with_a_grace_of_a_few_visibility_timeouts() -> None:
    env = reconciled.beat_env(10)
    assert env["AGENTQ_RECONCILE_REPAIR"] == "true"
    assert int(env["AGENTQ_RECONCILE_GRACE"]) == 30 == reconciled.grace(10)
    assert int(env["AGENTQ_RECONCILE_INTERVAL"]) < 10


def _repair_event() -> dict[str, Any]:  # as workers/reconcile/repair.py records it
    message = "redelivered by the reconciler (w1): the message was lost (queued 40 s)"
    return {
        "status": "queued",
        "attempt": 0,
        "detail": {"error_type": "Redelivered", "error_message": message},
    }


def test_a_deleted_task_counts_as_repaired_only_by_the_reconciler_s_event() -> None:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    v = Verdict()
    plain = [{"status": "queued", "attempt": 0}, {"status": "running", "attempt": 0}]
    v.histories = {
        ids[0]: [*plain, _repair_event()],
        ids[1]: plain,  # deleted from a queue, never repaired
        ids[2]: plain,  # deleted from the unacked set: its worker ran it
        ids[3]: [{"status": "failed", "attempt": 0, "detail": {"error_type": "ValueError"}}],
    }
    fault = Fault("broker_loss", 1.0, 0, lambda f: None)
    fault.evidence["task_ids"] = {"queues": [ids[0], ids[1]], "unacked": [ids[2]]}
    broker_loss_repairs(fault, v)
    assert fault.evidence["repaired"] == 1
    assert fault.evidence["unrepaired"] == [ids[1]]
    assert reconciled.repaired(v.histories, ids) == [ids[0]]


def test_the_final_reconcile_passes_only_with_every_count_zero() -> None:
    zero = {"lost": 0, "unrecorded": 0, "stuck": 0, "expired": 0, "revoked": 0}
    clean = reconciled.parse(json.dumps({"counts": zero, "repaired": {}}), 0)
    assert clean.ok and clean.discrepancies == {}
    assert reconciled.problems([], clean) == []

    found = reconciled.parse(json.dumps({"counts": zero | {"lost": 2, "stuck": 1}}), 1)
    assert not found.ok and found.discrepancies == {"lost": 2, "stuck": 1}
    assert reconciled.problems([], found) == [
        "the final reconcile over the converged fleet found: lost 2, stuck 1"
    ]

    broken = reconciled.parse("", 2, "Error: No such command 'reconcile'.")
    assert not broken.ok and "No such command 'reconcile'" in (broken.error or "")
    assert reconciled.parse(json.dumps({"counts": [1]}), 0).error is not None
    assert reconciled.problems([], None) == ["the final reconcile did not run"]
    assert reconciled.problems(["t1"], clean) == [
        "1 task(s) broker_loss deleted from a queue were never repaired: t1"
    ]


def test_a_repair_of_a_task_broker_loss_never_deleted_fails_the_run() -> None:
    deleted = {"queues": ["a", "b"], "unacked": ["c"]}
    assert reconciled.needless(["a", "c"], deleted) == []
    assert reconciled.needless(["a", "z", "y"], deleted) == ["y", "z"]
    final = reconciled.FinalCheck(counts={"lost": 0})
    assert reconciled.problems([], final, []) == []
    [why] = reconciled.problems([], final, ["y", "z"])
    assert why.startswith("2 task(s) the reconciler repaired were never lost: y, z")
