"""The hooks' XADD writer (workers/resp.py) and the sink around it, on real Redis servers."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.servers import RedisServer
from workers import events
from workers.resp import ReplyError, RespWriter, open_writer
from workers.sink import EventSink


@pytest.fixture
def secured_redis(tmp_path: Path) -> Iterator[RedisServer]:
    sock = tmp_path / "redis.sock"
    srv = RedisServer(
        extra_args=[
            "--requirepass",
            "s3cret pw",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
        ]
    )
    srv.start()
    yield srv
    srv.stop()


def _ev(task_id: str) -> list[dict[str, object]]:
    return [
        events.transition(
            uuid.uuid4().hex,
            task_id,
            "running",
            0,
            time.time(),
            "quiz_generator",
            "quiz",
            worker="w@h",
        )
    ]


def test_xadd_appends_the_exact_payload_with_auth_and_db(secured_redis: RedisServer) -> None:
    url = f"redis://:s3cret%20pw@127.0.0.1:{secured_redis.port}/3"
    writer = open_writer(url)
    payload = b'[{"k":"t","x":"\\u00e9 \\r\\n"}]'
    writer.xadd(b"s", b"e", payload)
    writer.xadd(b"s", b"e", b"")
    writer.close()
    check = redis.Redis.from_url(url)
    entries = check.xrange("s")
    assert [f[b"e"] for _, f in entries] == [payload, b""]
    assert redis.Redis.from_url(url.rsplit("/", 1)[0] + "/0").xlen("s") == 0  # SELECT 3 took effect


def test_unix_socket_url(secured_redis: RedisServer, tmp_path: Path) -> None:
    url = f"unix://:s3cret%20pw@{tmp_path / 'redis.sock'}?db=2"
    writer = RespWriter(url)
    writer.xadd(b"s", b"e", b"[]")
    writer.close()
    assert redis.Redis.from_url(url).xlen("s") == 1


def test_wrong_password_and_error_replies_raise_reply_error(secured_redis: RedisServer) -> None:
    with pytest.raises(ReplyError, match=r"WRONGPASS|invalid"):
        RespWriter(f"redis://:nope@127.0.0.1:{secured_redis.port}/0")
    url = f"redis://:s3cret%20pw@127.0.0.1:{secured_redis.port}/0"
    redis.Redis.from_url(url).set("a-string", "x")
    writer = RespWriter(url)
    with pytest.raises(ReplyError, match="WRONGTYPE"):
        writer.xadd(b"a-string", b"e", b"[]")
    writer.xadd(b"s", b"e", b"[]")  # the connection is still usable after an error reply
    writer.close()


def test_unreachable_server_raises_oserror() -> None:
    srv = RedisServer()  # a free port nobody listens on
    with pytest.raises(OSError):
        RespWriter(srv.url)


def test_sink_spools_on_error_reply_and_reconnects_after_restart(tmp_path: Path) -> None:
    srv = RedisServer()
    srv.start()
    try:
        client = redis.Redis.from_url(srv.url)
        sink = EventSink(srv.url, "agentq:events", tmp_path)
        sink.emit(_ev("t1"))
        assert client.xlen("agentq:events") == 1
        # Redis restarts (nothing persisted): the held socket is stale, one fresh try works.
        srv.stop()
        srv.start()
        sink.emit(_ev("t2"))
        assert client.xlen("agentq:events") == 1 and sink.spooled == 0
        # Redis refuses (the key is not a stream): spooled, not lost, no exception.
        client.delete("agentq:events")
        client.set("agentq:events", "not a stream")
        sink.emit(_ev("t3"))
        assert sink.spooled == 1
        spooled = list(tmp_path.glob("*.jsonl"))
        assert len(spooled) == 1 and b'"t":"t3"' in spooled[0].read_bytes()
        # Redis gone: spooled too.
        srv.stop()
        sink.emit(_ev("t4"))
        assert sink.spooled == 2
        sink.close()
    finally:
        srv.stop()
    assert os.path.getsize(spooled[0]) > 0
