"""``agentq dead-letters --replay`` with an id that is no dead letter (issue 20, item 10):
it said "Redis unreachable … Invalid stream ID"; now it says the id is unknown, or not a
stream id, exits 1, and replays nothing. Real Redis, the real command."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis

from tests.support.workers import ROOT

DEAD = "agentq:events:dead"


def agentq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.fixture
def one_dead_letter(clean: str, redis_client: redis.Redis) -> str:
    eid = redis_client.xadd(DEAD, {"e": b"[]", "reason": "test", "entry": b"1-1"})
    return str(eid.decode())


@pytest.mark.parametrize("source", ["all", "messages", "recording"])
def test_an_unknown_id_is_named_unknown(
    one_dead_letter: str, redis_client: redis.Redis, source: str
) -> None:
    out = agentq("dead-letters", "--source", source, "--replay", "1-0", "--replay", one_dead_letter)
    assert out.returncode == 1, (out.stdout, out.stderr)
    err = " ".join(out.stderr.split())
    assert "unknown dead-letter id: 1-0" in err, err
    if source == "messages":  # the recording one is not a message's dead letter either
        assert f"unknown dead-letter id: 1-0, {one_dead_letter}" in err, err
    assert "unreachable" not in err and "Invalid stream ID" not in err, err
    assert redis_client.xlen(DEAD) == 1  # nothing replayed


@pytest.mark.parametrize("bad", ["nonsense", "12345", "1-0-0", "-", "all-0"])
def test_a_malformed_id_is_named_not_a_stream_id(one_dead_letter: str, bad: str) -> None:
    out = agentq("dead-letters", "--replay", bad)
    assert out.returncode == 1, (out.stdout, out.stderr)
    err = " ".join(out.stderr.split())
    assert f"not a dead-letter id: '{bad}'" in err and "stream ids such as" in err, err


def test_a_known_id_is_still_replayed(one_dead_letter: str, redis_client: redis.Redis) -> None:
    out = agentq("dead-letters", "--source", "recording", "--replay", one_dead_letter, "--json")
    assert out.returncode == 0, out.stderr
    assert redis_client.xlen(DEAD) == 0 and redis_client.xlen("agentq:events") == 1
