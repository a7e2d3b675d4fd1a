"""The hooks' XADD writer (workers/recording/resp.py) and the sink around it, on real Redis."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from persistence import wire
from tests.support.servers import RedisServer
from workers.recording.resp import ReplyError, RespWriter, open_writer
from workers.recording.sink import EventSink


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
        wire.transition(
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
    writer.send(b"s", b"e", payload)
    writer.send(b"s", b"e", b"")
    assert list(writer.unconfirmed) in ([payload, b""], [b""], [])  # sent, replies unread
    assert writer.confirm(2.0) == []
    assert not writer.unconfirmed
    writer.close()
    check = redis.Redis.from_url(url)
    entries = check.xrange("s")
    assert [f[b"e"] for _, f in entries] == [payload, b""]
    assert redis.Redis.from_url(url.rsplit("/", 1)[0] + "/0").xlen("s") == 0  # SELECT 3 took effect


def test_poll_reads_replies_that_arrived_without_waiting(secured_redis: RedisServer) -> None:
    url = f"redis://:s3cret%20pw@127.0.0.1:{secured_redis.port}/0"
    writer = RespWriter(url)
    assert writer.poll() == []  # nothing owed, connection alive
    for i in range(50):
        writer.send(b"s", b"e", b"%d" % i)
    deadline = time.monotonic() + 5
    while writer.unconfirmed and time.monotonic() < deadline:
        assert writer.poll() == []
        time.sleep(0.005)
    assert not writer.unconfirmed
    writer.close()
    assert redis.Redis.from_url(url).xlen("s") == 50


def test_unix_socket_url(secured_redis: RedisServer, tmp_path: Path) -> None:
    url = f"unix://:s3cret%20pw@{tmp_path / 'redis.sock'}?db=2"
    writer = RespWriter(url)
    writer.send(b"s", b"e", b"[]")
    assert writer.confirm(2.0) == []
    writer.close()
    assert redis.Redis.from_url(url).xlen("s") == 1


def test_wrong_password_and_error_replies(secured_redis: RedisServer) -> None:
    with pytest.raises(ReplyError, match=r"WRONGPASS|invalid"):
        RespWriter(f"redis://:nope@127.0.0.1:{secured_redis.port}/0")
    url = f"redis://:s3cret%20pw@127.0.0.1:{secured_redis.port}/0"
    redis.Redis.from_url(url).set("a-string", "x")
    writer = RespWriter(url)
    writer.send(b"a-string", b"e", b"refused")
    writer.send(b"s", b"e", b"[]")  # the connection is still usable after an error reply
    refused = writer.confirm(2.0)
    assert len(refused) == 1 and refused[0][0] == b"refused" and "WRONGTYPE" in refused[0][1]
    writer.close()
    assert redis.Redis.from_url(url).xlen("s") == 1


def test_unreachable_server_raises_oserror() -> None:
    srv = RedisServer()  # a free port nobody listens on
    with pytest.raises(OSError):
        RespWriter(srv.url)


@pytest.mark.parametrize("confirm", ["deferred", "each"])
def test_sink_spools_on_error_reply_and_reconnects_after_restart(
    tmp_path: Path, confirm: str
) -> None:
    srv = RedisServer()
    srv.start()
    try:
        client = redis.Redis.from_url(srv.url)
        sink = EventSink(srv.url, "agentq:events", tmp_path, confirm=confirm)
        sink.emit(_ev("t1"))
        sink.flush()
        assert client.xlen("agentq:events") == 1
        # Redis restarts (nothing persisted): the held socket is stale, one fresh try works.
        srv.stop()
        srv.start()
        sink.emit(_ev("t2"))
        sink.flush()
        assert client.xlen("agentq:events") == 1 and sink.spooled == 0
        # Redis refuses (the key is not a stream): spooled, not lost, no exception.
        client.delete("agentq:events")
        client.set("agentq:events", "not a stream")
        sink.emit(_ev("t3"))
        sink.flush()
        assert sink.spooled == 1
        spooled = list(tmp_path.glob("*.jsonl"))
        assert len(spooled) == 1 and b'"t":"t3"' in spooled[0].read_bytes()
        # Redis gone: spooled too.
        srv.stop()
        sink.emit(_ev("t4"))
        sink.flush()
        assert sink.spooled == 2
        sink.close()
    finally:
        srv.stop()
    assert os.path.getsize(spooled[0]) > 0


def test_sink_sends_again_what_a_dropped_connection_left_unconfirmed(tmp_path: Path) -> None:
    srv = RedisServer()
    srv.start()
    try:
        client = redis.Redis.from_url(srv.url)
        sink = EventSink(srv.url, "agentq:events", tmp_path)
        sink.emit(_ev("t1"))
        sink.flush()
        # Redis restarts between two events without the sink noticing: t2 is written
        # into the dead connection, and still arrives once the sink learns of it.
        srv.stop()
        srv.start()
        assert sink._writer is not None
        sink._writer.send(sink._stream, b"e", wire.encode(_ev("t2")))
        sink.emit(_ev("t3"))
        sink.flush()
        tasks = sorted(wire.decode(f[b"e"])[0]["t"] for _, f in client.xrange("agentq:events"))
        assert tasks == ["t2", "t3"] and sink.spooled == 0
        # Many events without reading a reply: the sink waits once past its bound.
        for i in range(EventSink.MAX_UNCONFIRMED + 10):
            sink.emit(_ev(f"n{i}"))
            assert len(sink._writer.unconfirmed) <= EventSink.MAX_UNCONFIRMED + 1
        sink.flush()
        assert client.xlen("agentq:events") == 2 + EventSink.MAX_UNCONFIRMED + 10
        sink.close()
    finally:
        srv.stop()


def test_final_mode_waits_on_the_final_event_and_it_confirms_running(tmp_path: Path) -> None:
    """A worker's mode: running is sent without waiting; the task's last event waits for
    both replies, so both are in Redis before the message is acknowledged, even when the
    connection running went into died in between (Redis restarted)."""
    srv = RedisServer()
    srv.start()
    try:
        client = redis.Redis.from_url(srv.url)
        sink = EventSink(srv.url, "agentq:events", tmp_path, confirm="final")
        sink.emit(_ev("r1"), final=False)
        assert sink._writer is not None and len(sink._writer.unconfirmed) == 1  # not waited
        sink.emit(_ev("c1"))
        assert len(sink._writer.unconfirmed) == 0  # the final event read both replies
        srv.stop()
        srv.start()
        sink.emit(_ev("r2"), final=False)  # into the dead connection, or a new one
        sink.emit(_ev("c2"))
        assert len(sink._writer.unconfirmed) == 0
        tasks = sorted(wire.decode(f[b"e"])[0]["t"] for _, f in client.xrange("agentq:events"))
        assert tasks == ["c2", "r2"] and sink.spooled == 0  # (r1, c1 went with the restart)
        sink.close()
    finally:
        srv.stop()


def test_sink_rejects_an_unknown_confirm_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="confirm"):
        EventSink("redis://127.0.0.1:1/0", "s", tmp_path, confirm="sometimes")


def test_sink_shared_by_threads_loses_and_mixes_nothing(tmp_path: Path) -> None:
    srv = RedisServer()
    srv.start()
    try:
        sink = EventSink(srv.url, "agentq:events", tmp_path)
        per_thread = 300

        def work(n: int) -> None:
            for i in range(per_thread):
                sink.emit(_ev(f"{n}-{i}"))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sink.flush()
        client = redis.Redis.from_url(srv.url)
        tasks = {wire.decode(f[b"e"])[0]["t"] for _, f in client.xrange("agentq:events")}
        assert len(tasks) == 4 * per_thread and sink.spooled == 0
        sink.close()
    finally:
        srv.stop()
