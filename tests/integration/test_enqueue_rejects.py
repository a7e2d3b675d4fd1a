"""enqueue and ``agentq enqueue`` refuse what the record or the broker could not carry,
naming the field, and publish nothing (no message in the queue, no event in the stream)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from tasks.registry import get_spec
from workers.producer import enqueue
from workers.recording import signals

ROOT = Path(__file__).resolve().parents[2]
AGENTQ = Path(sys.executable).parent / "agentq"
AGENT = "quiz_generator"
EXAMPLE = get_spec(AGENT).example
TASK_TYPE = get_spec(AGENT).example_task_type
STREAM = "agentq:events"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def assert_nothing_published(client: redis.Redis) -> None:
    signals.flush()  # the publisher does not wait for its XADD replies: make sure of them
    queues = [k for k in client.keys(f"{AGENT}*") if client.type(k) == b"list"]
    assert [(k, client.llen(k)) for k in queues] == []
    assert client.xlen(STREAM) == 0


def with_extra(extra: Any) -> dict[str, Any]:
    return {**EXAMPLE, "extra": extra}


BAD_CALLS: list[Any] = [
    pytest.param(
        {"input_data": with_extra({"deep": ["ok", "a\x00b"]})},
        "input_data.extra.deep[1]: contains a NUL character",
        id="nul-in-nested-value",
    ),
    pytest.param(
        {"input_data": with_extra({"k\x00": 1})},
        'input_data.extra["k\\u0000"]: the key contains a NUL character',
        id="nul-in-key",
    ),
    pytest.param(
        {"input_data": with_extra(["\ud800"])},
        "input_data.extra[0]: contains a lone surrogate",
        id="surrogate",
    ),
    pytest.param(
        {"input_data": with_extra({"x": math.nan})}, "input_data.extra.x: is nan", id="nan-value"
    ),
    pytest.param(
        {"input_data": with_extra(nested(10_000))},
        "input_data.extra[0]",  # and "nested more than 32 levels deep", checked below
        id="depth-10000",
    ),
    pytest.param({"session_id": "s\x00"}, "session_id: contains a NUL", id="nul-session"),
    pytest.param({"session_id": 7}, "session_id must be a string", id="int-session"),
    pytest.param(
        {"session_id": "s" * 256}, "session_id is 256 characters long, over the limit of 255"
    ),
    pytest.param({"task_type": "t" * 65}, "task_type is 65 characters long, over the limit of 64"),
    pytest.param({"task_type": "quiz\x00"}, "task_type: contains a NUL", id="nul-task-type"),
    pytest.param({"user_id": "u" * 65}, "user_id is 65 characters long, over the limit of 64"),
    pytest.param({"task_id": ""}, "task_id must not be empty", id="empty-task-id"),
    pytest.param({"task_id": 7}, "task_id must be a string", id="int-task-id"),
    pytest.param({"task_id": "t" * 256}, "task_id is 256 characters long, over the limit of 255"),
    pytest.param({"task_id": "t\x00"}, "task_id contains the unprintable character U+0000"),
    # the one rule for ids (persistence/task_ids.py): no line breaks, no lone surrogates
    pytest.param({"task_id": "a\nb"}, "task_id contains the unprintable character U+000A"),
    pytest.param({"task_id": "\ud800abc"}, "task_id contains the unprintable character U+D800"),
    pytest.param({"countdown": math.inf}, "countdown must be a finite number", id="inf"),
    pytest.param({"countdown": math.nan}, "countdown must be a finite number", id="nan"),
    pytest.param({"countdown": 1e300}, "countdown must be between 0 and 31622400", id="1e300"),
    pytest.param({"countdown": -1}, "countdown must be between 0 and 31622400", id="negative"),
    pytest.param({"priority": math.nan}, "priority must be 0-9 or a name, not nan", id="p-nan"),
    pytest.param({"priority": 10}, "priority must be 0-9 or a name, not 10", id="p-10"),
    pytest.param({"priority": True}, "priority must be 0-9 or a name, not True", id="p-true"),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_enqueue_rejects_naming_the_field_and_publishes_nothing(
    clean: str, redis_client: redis.Redis, call: dict[str, Any], message: str
) -> None:
    kwargs = {"task_type": TASK_TYPE, "input_data": EXAMPLE, **call}
    with pytest.raises(ValueError) as info:
        enqueue(AGENT, kwargs.pop("task_type"), kwargs.pop("input_data"), **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
    if "nested" in str(info.value):
        assert "nested more than 32 levels deep" in str(info.value)
    assert_nothing_published(redis_client)


def test_a_good_enqueue_is_seen_by_the_same_checks(clean: str, redis_client: redis.Redis) -> None:
    """The control: what assert_nothing_published looks at does show a publish."""
    given = "t" * 255
    got = enqueue(AGENT, TASK_TYPE, EXAMPLE, session_id="s" * 255, priority=9, task_id=given)
    assert got == given
    with pytest.raises(AssertionError):
        assert_nothing_published(redis_client)


def agentq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AGENTQ), *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def deep_json(depth: int) -> str:
    return json.dumps({**EXAMPLE, "extra": "X"}).replace('"X"', "[" * depth + "]" * depth)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--input", json.dumps({**EXAMPLE, "extra": {"t": "a\x00b"}})],
            "input_data.extra.t: contains a NUL character (\\u0000)",
            id="nul",
        ),
        pytest.param(
            ["--input", deep_json(100)],
            "nested more than 32 levels deep",
            id="deep-parsed",
        ),
        pytest.param(
            ["--input", deep_json(10_000)],
            "--input is nested too deeply to parse",
            id="deep-beyond-json",
        ),
        pytest.param(
            ["--input", json.dumps({**EXAMPLE, "[/x]": "\ud800"})],
            'input_data["[/x]"]: contains a lone surrogate',
            id="surrogate-markup-key",
        ),
        pytest.param(["--example", "--countdown", "inf"], "countdown", id="countdown-inf"),
        pytest.param(["--example", "--priority", "9" * 5000], "priority", id="priority-huge"),
    ],
)
def test_cli_rejects_with_one_line_naming_the_field(
    clean: str, redis_client: redis.Redis, args: list[str], message: str
) -> None:
    res = agentq("enqueue", AGENT, *args)
    assert res.returncode == 1, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr and res.stderr.strip().count("\n") == 0
    assert res.stdout == ""
    assert_nothing_published(redis_client)
