"""A transition the hooks cannot encode ends in the recording dead letters, never nowhere
(issue 20, item 3, the recording side).

orjson refuses a string with a lone surrogate (and integers past 64 bits, nesting past
255): such an event used to be logged and dropped, with no row, no dead letter, no
spool. The consumer's message check refuses task ids like that before a worker runs
them; these tests reach the hooks by the paths that bypass it: a task run eagerly, and a
real worker's handler whose output holds a lone surrogate.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis

from tests.e2e.conftest import private_events_stream
from tests.support.workers import WorkerProcess, wait_for
from workers.app import app
from workers.producer import get_execution

LONE = "\ud800"


def _dead(r: redis.Redis, stream: str) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in r.xrange(stream + ":dead")]


@pytest.fixture
def echo_task() -> Any:
    import tests.support.echo  # noqa: F401  (registers agents.content_generator.echo)

    return app.tasks["agents.content_generator.echo"]


def test_an_eager_task_with_a_lone_surrogate_in_its_id_is_a_dead_letter(
    monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis, echo_task: Any
) -> None:
    with private_events_stream(monkeypatch, redis_client, "unencodable") as stream:
        bad_id = f"{LONE}abc-{uuid.uuid4().hex}"
        echo_task.apply(kwargs={"task_type": "echo", "input_data": {}}, task_id=bad_id)
        good_id = str(uuid.uuid4())
        echo_task.apply(kwargs={"task_type": "echo", "input_data": {"n": 1}}, task_id=good_id)
        # running and completed of the bad task: one dead letter each, with the reason
        # and the events, escaped; the good task's events are in the stream as ever.
        dead = wait_for(lambda: len(_dead(redis_client, stream)) >= 2, 30, what="dead letters")
        dead_letters = _dead(redis_client, stream)
        assert dead and len(dead_letters) == 2, dead_letters
        for fields in dead_letters:
            reason = fields[b"reason"].decode()
            assert reason.startswith("a lifecycle hook could not encode these events: "), reason
            assert "surrogates not allowed" in reason, reason
            assert b"\\ud800abc-" in fields[b"e"], fields[b"e"]
        kept = b"".join(f[b"e"] for f in dead_letters).replace(b" ", b"")
        assert b'"s":"running"' in kept and b'"s":"completed"' in kept, dead_letters
        entries = redis_client.xrange(stream)
        assert any(good_id.encode() in f[b"e"] for _, f in entries), entries
        assert not any(b"abc-" in f[b"e"] for _, f in entries), entries


@pytest.mark.slow
def test_a_worker_whose_handler_returns_a_lone_surrogate_keeps_it_in_the_dead_letters(
    clean: str, redis_client: redis.Redis, echo_task: Any
) -> None:
    with WorkerProcess(
        "unencodable",
        concurrency=1,
        queues="content_generator",
        extra_args=["-I", "tests.support.tasks,tests.support.echo"],
    ) as w:
        # (a lone surrogate in the input is refused by the message schema before a worker
        # runs it: the handler makes one in its output instead)
        tid = echo_task.apply_async(kwargs={"task_type": "echo", "input_data": {"lone": True}}).id
        # The pool process's completed: set aside.
        dead = wait_for(
            lambda: (
                len(_dead(redis_client, "agentq:events")) >= 1
                and _dead(redis_client, "agentq:events")
            ),
            60,
            what="the unencodable events in the dead letters",
        )
        later = echo_task.apply_async(kwargs={"task_type": "echo", "input_data": {}}).id
        wait_for(
            lambda: (rec := get_execution(later)) is not None and rec["status"] == "completed",
            60,
            what="a task after it",
        )
        assert not w._died(), w.output()[-3000:]
    kept = b"".join(f[b"e"] for f in dead).replace(b" ", b"")
    assert kept.count(tid.encode()) >= 1, dead
    assert b'"s":"completed"' in kept, dead
    assert all(b"could not encode" in f[b"reason"] for f in dead), dead
    # The running transition could be encoded: the row is there, never silently absent.
    rec = wait_for(lambda: get_execution(tid), 30, what="the row of the running task")
    assert rec["status"] == "running"
