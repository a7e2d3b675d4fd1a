"""Issue 20 through a real worker: every field of a captured real message changed the
way a hostile or buggy producer would (``workers/soak/mutations.py``) ends in the dead
letters with its kind, nothing of it runs or is recorded, good tasks around it run, and
a gzip bomb does not balloon the worker."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

from tests.e2e.conftest import send_test_task
from tests.support.captured import capture_envelope
from tests.support.workers import WorkerProcess, wait_for
from workers.broker import dead_letters
from workers.producer import get_execution
from workers.settings import get_settings
from workers.soak import mutations

pytestmark = pytest.mark.slow

QUEUE = "content_generator"
ENV = {"AGENTQ_RECORDER_PROCESS": "true"}


def _completed(task_id: str) -> bool:
    rec = get_execution(task_id)
    return rec is not None and rec["status"] == "completed"


def _dead(r: redis.Redis) -> list[dict[str, str]]:
    return dead_letters.DeadLetters(r).entries(dead_letters.SOURCE_MESSAGES)


def _fresh(template: dict) -> dict:  # type: ignore[type-arg]
    env = copy.deepcopy(template)
    env["headers"]["id"] = env["headers"]["root_id"] = str(uuid.uuid4())
    env["properties"]["correlation_id"] = env["headers"]["id"]
    env["properties"]["delivery_tag"] = str(uuid.uuid4())
    return env


def test_every_mutation_is_set_aside_and_good_work_goes_on(
    clean: str, redis_client: redis.Redis
) -> None:
    r = redis_client
    key, template = capture_envelope(r, QUEUE)
    good, poisoned = [], []
    for name in mutations.MUTATIONS:
        good.append(send_test_task("noop"))
        env = _fresh(template)
        poisoned.append(env["headers"]["id"])
        r.lpush(key, mutations.mutate(name, env))
    good.append(send_test_task("noop"))
    w = WorkerProcess("schema", concurrency=2, env=ENV, queues=QUEUE)
    w.start(timeout=60)
    try:
        wait_for(
            lambda: all(_completed(t) for t in good) or w._died(),
            timeout=180,
            what="the good tasks around the poison to complete",
        )
        assert not w._died(), f"the worker died:\n{w.output()[-4000:]}"
        found = wait_for(
            lambda: len(_dead(r)) >= len(mutations.MUTATIONS) and _dead(r),
            timeout=60,
            what=f"{len(mutations.MUTATIONS)} dead letters",
        )
        # the worker still runs what comes after
        late = send_test_task("noop")
        wait_for(lambda: _completed(late) or w._died(), 60, what="a task after the poison")
    finally:
        w.stop(timeout=30)
    assert "Unrecoverable error" not in w.output()
    expected = sorted(kind for _, kind in mutations.MUTATIONS.values())
    assert sorted(f["kind"] for f in found) == expected, "\n".join(
        f"{f['kind']}: {f['reason']}" for f in found
    )
    assert all(f["queue"] == QUEUE and f["reason"] for f in found), found
    with psycopg.connect(get_settings().primary_database_url) as conn:
        ids = {row[0] for row in conn.execute("SELECT task_id FROM agent_executions")}
    assert not ids & set(poisoned), "a poison message ran and was recorded"
    # nothing left behind: not on the queue, not unacked, not in the taking set
    assert not [k for k in r.keys(f"{QUEUE}*") if not k.endswith(b":bell") and r.llen(k)]
    assert r.hlen("unacked") == 0
    assert r.hlen("agentq:messages:taking") == 0


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_gzip_bomb_does_not_balloon_the_worker(clean: str, redis_client: redis.Redis) -> None:
    """A 300 MB body in a few hundred KB of zlib: the worker stops inflating it at the
    size limit (before, kombu inflated it whole: RSS 124 -> 626 MB)."""
    r = redis_client
    key, template = capture_envelope(r, QUEUE)
    bomb = mutations.gzip_bomb(300 << 20)(_fresh(template))
    assert len(bomb) < 2 << 20
    w = WorkerProcess("bomb", concurrency=1, env=ENV, queues=QUEUE)
    w.start(timeout=60)
    try:
        assert w.proc is not None
        before = _peak_rss_kb(w.proc.pid)
        r.lpush(key, bomb)
        found = wait_for(lambda: _dead(r) or w._died(), 120, what="the bomb set aside")
        assert not w._died(), w.output()[-4000:]
        grown_mb = (_peak_rss_kb(w.proc.pid) - before) / 1024
    finally:
        w.stop(timeout=30)
    assert grown_mb < 100, f"the worker's peak RSS grew by {grown_mb:.0f} MB"
    assert [f["kind"] for f in found] == ["too_large"], found
    assert "inflates to more than" in found[0]["reason"]


def test_control_replies_are_not_held_to_the_task_schema(
    clean: str, redis_client: redis.Redis
) -> None:
    """Replies to remote control (``celery inspect``, Flower, mingle) come back through
    a reply queue on the same transport: they are kombu messages, not tasks, and must
    reach the caller, never the dead letters."""
    from workers.app import app

    with WorkerProcess("control", concurrency=1, env=ENV, queues=QUEUE) as w:
        replies = wait_for(
            lambda: app.control.ping(destination=[w.hostname], timeout=2),
            60,
            what="a ping reply from the worker",
        )
        # the worker's own consumer also holds control replies to kombu's envelope only
        stats = app.control.inspect(destination=[w.hostname], timeout=5).stats()
    assert replies == [{w.hostname: {"ok": "pong"}}], replies
    assert stats and w.hostname in stats, stats
    assert _dead(redis_client) == []
