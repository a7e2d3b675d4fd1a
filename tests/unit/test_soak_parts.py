"""The soak's parts that need no fleet: its plan, its poison, its fault bookkeeping, its
throughput windows and its refusal to run without root. (The fleet itself runs in
``.ci/run`` as ``agentq soak``.)"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner

from persistence import wire
from workers.app import app
from workers.broker import message_check
from workers.cli.soak import soak
from workers.soak import mutations, poison
from workers.soak.faults import PROOF, Fault, seeded_offsets
from workers.soak.plan import EXPECTED, REVOKED_COUNTDOWN, pinned, plan
from workers.soak.report import _union
from workers.soak.run import Soak, SoakOptions


def test_the_plan_is_the_seed_s_and_every_job_knows_its_end() -> None:
    jobs = plan(2000, seed=7)
    assert [j.job.input_data for j in jobs] == [j.job.input_data for j in plan(2000, seed=7)]
    assert [j.kind for j in jobs] != [j.kind for j in plan(2000, seed=8)]
    kinds = Counter(j.kind for j in jobs)
    assert set(kinds) == set(EXPECTED)  # every kind of outcome is in a run this size
    for j in jobs:
        assert j.expected == EXPECTED[j.kind]
        if j.kind == "revoked":
            assert j.countdown == REVOKED_COUNTDOWN
        if j.kind in ("retry", "exhausted"):
            assert j.job.fail_attempts is not None


def test_every_poison_message_is_refused_before_it_runs() -> None:
    n = 5 * len(mutations.MUTATIONS)  # each of issue 20's mutations once
    msgs = poison.messages(n, random.Random(1), oversize=256 * 1024)
    fates: Counter[str] = Counter()
    for queue, raw in msgs:
        assert queue in poison.AGENT_QUEUES
        try:  # what the Redis transport does with the raw bytes, before kombu reads them
            env = message_check.check_envelope(raw, 65536)
        except message_check.Refused as refused:
            fates[refused.kind] += 1
            continue
        # then only an unknown task name is left to catch it
        assert env["headers"]["task"] not in app.tasks
        fates["unknown_task"] += 1
    expected = Counter({"envelope": n // 5, "unknown_task": n // 5, "body": n // 5})
    expected["too_large"] += n // 5
    expected.update(kind for _, kind in mutations.MUTATIONS.values())
    assert fates == expected


def test_every_poison_stream_entry_is_refused_by_the_strict_decoder() -> None:
    entries = poison.stream_entries(12)
    for entry in entries:
        with pytest.raises(wire.BadEvent):
            wire.decode_entry(entry)


def test_a_fault_counts_only_with_its_evidence() -> None:
    assert set(PROOF) >= {
        "kill_child",
        "kill_worker",
        "partition",
        "postgres_down",
        "redis_restart",
        "clock_skew",
        "poison",
        "redis_kill",
    }
    fault = Fault("partition", 1.0, 3.0, lambda f: None)
    assert not fault.took_effect
    fault.evidence["link_down_seconds"] = 3
    assert not fault.took_effect  # the cut alone is not proof: a replayed spool and reruns are
    fault.evidence["spool_entries_replayed"] = 2
    assert not fault.took_effect
    fault.evidence["pinned_rerun"] = 1
    assert fault.took_effect
    fault.error = "RuntimeError: ip link failed"
    assert not fault.took_effect


def test_fault_times_overlap_shrink_with_scale_and_follow_the_seed() -> None:
    a = seeded_offsets(random.Random(3), 1.0)
    assert a == seeded_offsets(random.Random(3), 1.0)
    assert a != seeded_offsets(random.Random(4), 1.0)
    short = seeded_offsets(random.Random(3), 0.3)
    assert all(short[k] == pytest.approx(a[k] * 0.3, abs=0.11) for k in a)
    # the partition (30 s) is still going when the worker kill and the outage begin
    assert a["partition"] < a["kill_worker"] < a["partition"] + 30
    assert a["partition"] < a["postgres_down"] < a["partition"] + 30


def test_pinned_jobs_go_to_one_host_s_queue_and_must_complete() -> None:
    jobs = pinned(3, 4.0, "soak.w3")
    assert len(jobs) == 3 and len({j.job.agent_type for j in jobs}) == 3
    assert all(j.queue == "soak.w3" and j.seconds == 4.0 for j in jobs)
    assert all(j.expected == ("completed", 0) for j in jobs)


def test_fault_windows_are_counted_once_where_they_overlap() -> None:
    assert _union([(5, 9), (1, 3), (2, 4), (8, 12)]) == [(1, 4), (5, 12)]
    assert _union([]) == []


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_not_root_exits_1_naming_why_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _netns_names() if os.geteuid() == 0 else set()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(soak, ["--tasks", "100", "--seed", "1"])
    assert result.exit_code == 1
    assert "run it as root" in result.output
    if before or os.path.exists("/run/netns"):
        assert _netns_names() == before


def test_teardown_twice_is_harmless(tmp_path: Any) -> None:
    run = Soak(SoakOptions(tasks=100), workdir=tmp_path / "w")
    (tmp_path / "w").mkdir()
    run.teardown()
    run.teardown()
    assert not (tmp_path / "w").exists()


def test_a_poison_message_kept_again_after_a_restore_counts_once() -> None:
    from kombu.utils.json import dumps

    from workers.soak.evidence import fingerprint

    msgs = poison.messages(300, random.Random(1), oversize=256 * 1024)
    prints = {fingerprint(raw) for _, raw in msgs}
    assert len(prints) == len(msgs)  # distinct messages stay distinct
    restored = 0
    for _, raw in msgs:
        try:
            env = json.loads(raw)
            env["headers"]["redelivered"] = True  # what kombu's restore does to it
            env["properties"]["delivery_info"]["redelivered"] = True
        except (ValueError, TypeError, KeyError, RecursionError):
            continue
        assert fingerprint(dumps(env).encode()) == fingerprint(raw)
        restored += 1
    assert restored > 100
