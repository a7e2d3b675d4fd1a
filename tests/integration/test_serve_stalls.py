"""Clients that stop mid-request, and more clients than ``agentq serve`` serves at once
(issue 20): a stalled client is closed after ``AGENTQ_SERVE_READ_TIMEOUT_SECONDS`` and
its thread ends; beyond ``AGENTQ_SERVE_MAX_CONNECTIONS`` a connection is answered 503
JSON at once; a normal request is served while a few clients stall."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.raw_http import exchange, parse, read_all, request_bytes
from tests.support.served import InProcess, Served
from tests.support.workers import wait_for
from workers.serve.connections import SPARE_THREADS

DEADLINE_S = 60.0  # generous: the server closes a stalled client after 1 s


def _stalled(port: int, sent: bytes) -> socket.socket:
    """A client that sent ``sent`` (maybe nothing) and then nothing more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    if sent:
        sock.sendall(sent)
    return sock


@pytest.fixture
def quick_timeout(clean: str) -> Iterator[Served]:
    server = Served({"AGENTQ_SERVE_READ_TIMEOUT_SECONDS": "1"})
    yield server
    server.stop()


def test_stalled_clients_are_closed_and_others_served(quick_timeout: Served) -> None:
    port = quick_timeout.port
    half_body = request_bytes("POST", "/pusher/auth", {"Content-Length": "100"}, b"socket_id=1.2")
    clients = {
        "silent": _stalled(port, b""),
        "half request line": _stalled(port, b"GET /heal"),
        "half headers": _stalled(port, b"GET /healthz HTTP/1.0\r\nAccept: x"),
        "half body": _stalled(port, half_body),
    }
    try:
        # While they stall, a normal request is answered.
        assert quick_timeout.request("/api/v1/realtime")[0] == 200
        # Each stalled client is closed by the server (our recv would wait DEADLINE_S).
        for name, sock in clients.items():
            raw = read_all(sock)
            if name == "half body":
                reply = parse(raw)
                assert reply is not None and reply.status == 408, raw
                assert reply.json() == {
                    "error": "request body not received: nothing received for 1 s"
                }
            else:
                assert raw == b"", (name, raw)  # nothing asked, nothing answered
    finally:
        for sock in clients.values():
            sock.close()
    assert quick_timeout.request("/api/v1/realtime")[0] == 200


def test_their_threads_end(clean: str) -> None:
    served = InProcess(serve_read_timeout_seconds=1)
    try:
        socks = [_stalled(served.port, b"GET /api/v1/he") for _ in range(3)]
        try:
            for sock in socks:  # still open on our side: the server ends them
                assert read_all(sock) == b""
            wait_for(lambda: served.server.serving == 0, DEADLINE_S, what="their threads to end")
        finally:
            for sock in socks:
                sock.close()
    finally:
        served.close()


def test_beyond_the_connection_limit_is_503_json_then_served_again(clean: str) -> None:
    served = InProcess(serve_max_connections=3, serve_read_timeout_seconds=600)
    try:
        socks = [_stalled(served.port, b"") for _ in range(3)]
        try:
            wait_for(lambda: served.server.serving == 3, DEADLINE_S, what="3 connections served")
            reply = exchange(served.port, request_bytes("GET", "/api/v1/realtime"))
            assert reply is not None and reply.status == 503, reply
            assert reply.headers["retry-after"] == "1"
            assert reply.json() == {
                "error": "busy: 3 connections are being served; try again shortly"
            }
        finally:
            for sock in socks:
                sock.close()  # the server reads the end and lets the threads go
        wait_for(lambda: served.server.serving == 0, DEADLINE_S, what="the threads to end")
        reply = exchange(served.port, request_bytes("GET", "/api/v1/realtime"))
        assert reply is not None and reply.status == 200, reply
    finally:
        served.close()


def test_a_client_trickling_its_request_is_cut_off_at_the_deadline(clean: str) -> None:
    """Never silent for a whole read timeout, a byte at a time: the request's deadline
    (2 s here) ends it all the same."""
    served = InProcess(serve_read_timeout_seconds=5, serve_request_timeout_seconds=2)
    try:
        sock = _stalled(served.port, b"GET /healthz HTTP/1.0\r\nX-Slow: ")
        sock.settimeout(0.2)
        deadline = time.monotonic() + DEADLINE_S
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"a")
                closed = sock.recv(1024) == b""  # the server ended the connection
            except TimeoutError:
                continue  # still open: trickle on
            except OSError:
                closed = True  # reset: ended too
        sock.close()
        assert closed, f"a trickling client was still served after {DEADLINE_S} s"
        wait_for(lambda: served.server.serving == 0, DEADLINE_S, what="its thread to end")
    finally:
        served.close()


def test_beyond_the_spares_a_connection_is_closed_unanswered(clean: str) -> None:
    """Past the limit and the spare threads that answer 503, nothing more is started:
    the connection is closed, then everything is served again once they are gone."""
    served = InProcess(serve_max_connections=1, serve_read_timeout_seconds=600)
    served.server.busy_read_s = 600  # the spares wait for their requests: all held
    try:
        held = [_stalled(served.port, b"")]
        wait_for(lambda: served.server.serving == 1, DEADLINE_S, what="the slot taken")
        held += [_stalled(served.port, b"") for _ in range(SPARE_THREADS)]
        wait_for(lambda: served.server.refusing == SPARE_THREADS, DEADLINE_S, what="spares busy")
        try:
            assert exchange(served.port, request_bytes("GET", "/api/v1/realtime")) is None
        finally:
            for sock in held:
                sock.close()
        wait_for(
            lambda: served.server.serving + served.server.refusing == 0,
            DEADLINE_S,
            what="every thread to end",
        )
        reply = exchange(served.port, request_bytes("GET", "/api/v1/realtime"))
        assert reply is not None and reply.status == 200, reply
    finally:
        served.close()
