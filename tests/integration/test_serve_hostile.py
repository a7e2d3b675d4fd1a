"""Hostile client input to a real ``agentq serve`` subprocess and the session's PostgreSQL
(issue 20, "The HTTP server never answers 500 to client input"): each request here was
answered 500 or 503 (or an HTML page, or accepted) before; now it is a 4xx JSON naming
what is wrong. Stalled clients and the connection bound are in test_serve_stalls.py,
the fuzz of every route in test_serve_fuzz.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from persistence.browse import encode_cursor
from tests.support.raw_http import exchange, request_bytes
from tests.support.served import JWT_SECRET, Served, token
from tests.support.workers import ROOT


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[Served]:
    server = Served({"SUPABASE_JWT_SECRET": JWT_SECRET})
    yield server
    server.stop()


def _error(served: Served, data: bytes) -> tuple[int, str]:
    reply = exchange(served.port, data)
    assert reply is not None, "no answer"
    assert reply.headers["content-type"] == "application/json", reply
    body = reply.json()
    assert list(body) == ["error"], body
    return reply.status, body["error"]


# --- tokens ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", [["service_role"], {"role": "service_role"}, 5, None])
def test_a_role_that_is_not_a_string_is_401(clean: str, served: Served, role: object) -> None:
    code, body = served.request("/api/v1/agents", bearer=token(role=role))  # type: ignore[arg-type]
    assert code == 401 and body["error"].startswith("token role"), body


def test_a_token_living_longer_than_the_maximum_is_401(clean: str, served: Served) -> None:
    year_9999 = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())
    forever = token(exp=year_9999)
    code, body = served.request("/api/v1/agents", bearer=forever)
    assert code == 401 and body["error"].startswith("token lifetime too long"), body
    assert "AGENTQ_API_MAX_TOKEN_LIFETIME_SECONDS" in body["error"]
    no_iat = token(ttl_s=2 * 86_400)
    import jwt

    claims = jwt.decode(no_iat, JWT_SECRET, algorithms=["HS256"])
    del claims["iat"]
    code, body = served.request("/api/v1/agents", bearer=jwt.encode(claims, JWT_SECRET))
    assert code == 401 and "after now" in body["error"], body
    assert served.request("/api/v1/agents", bearer=token(ttl_s=86_000))[0] == 200


def test_the_maximum_lifetime_is_a_setting(clean: str) -> None:
    server = Served(
        {"SUPABASE_JWT_SECRET": JWT_SECRET, "AGENTQ_API_MAX_TOKEN_LIFETIME_SECONDS": "60"}
    )
    try:
        code, body = server.request("/api/v1/agents", bearer=token(ttl_s=120))
        assert code == 401 and "the 60 s this server accepts" in body["error"], body
        assert server.request("/api/v1/agents", bearer=token(ttl_s=50))[0] == 200
    finally:
        server.stop()


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["token", "--sub", "u"]])
def test_a_short_jwt_secret_is_refused_at_start_naming_it(command: list[str]) -> None:
    env = {"SUPABASE_JWT_SECRET": "x" * 31, "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-m", "workers.cli", *command],
        cwd=ROOT,
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "SUPABASE_JWT_SECRET" in res.stderr and "31 bytes" in res.stderr, res.stderr
    assert "x" * 31 not in res.stderr + res.stdout


def test_agentq_token_refuses_a_ttl_the_server_would_refuse() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "workers.cli", "token", "--sub", "u", "--ttl", "90000"],
        cwd=ROOT,
        env={**__import__("os").environ, "SUPABASE_JWT_SECRET": JWT_SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1 and "AGENTQ_API_MAX_TOKEN_LIFETIME_SECONDS" in res.stderr


# --- parameters -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "limit",
    ["9" * 5000, "%C2%B2", "%D9%A5", "%EF%BC%95", "1" * 10, "+5", "%205", "5.0", "0x10"],
    ids=["5000-digits", "superscript-2", "arabic-indic-5", "fullwidth-5", "10-digits",
         "plus", "space", "decimal", "hex"],
)  # fmt: skip
def test_a_limit_that_is_not_ascii_digits_is_400(clean: str, served: Served, limit: str) -> None:
    code, body = served.request(f"/api/v1/executions?limit={limit}", bearer=token())
    assert code == 400 and body["error"].startswith("limit must be"), body


@pytest.mark.parametrize("hours", ["%D9%A5", "1e3", "inf", "1_0", "9" * 5000])
def test_hours_are_ascii_decimals(clean: str, served: Served, hours: str) -> None:
    code, body = served.request(f"/api/v1/metrics?hours={hours}", bearer=token())
    assert code == 400 and body["error"].startswith("hours must be"), body
    assert served.request("/api/v1/metrics?hours=1.5", bearer=token())[0] == 200


@pytest.mark.parametrize(
    "task_id", ["a\x00b", "\ud800abc", "x" * 256, "line\nbreak", ""],
    ids=["nul", "lone-surrogate", "256-chars", "newline", "empty"],
)  # fmt: skip
def test_a_cursor_whose_task_id_is_not_one_is_400(clean: str, served: Served, task_id: str) -> None:
    cursor = encode_cursor(datetime.now(UTC), task_id)
    code, body = served.request(f"/api/v1/executions?before={cursor}", bearer=token())
    assert code == 400 and body["error"].startswith("before: "), body


def test_a_cursor_nested_too_deep_for_json_is_400(clean: str, served: Served) -> None:
    import base64

    deep = base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("=")  # RecursionError
    code, body = served.request(f"/api/v1/executions?before={deep}", bearer=token())
    assert code == 400 and body["error"].startswith("before: "), body


# --- bodies and headers -----------------------------------------------------------------
@pytest.mark.parametrize(
    "length",
    ["9" * 5000, "\N{SUPERSCRIPT TWO}", "\N{ARABIC-INDIC DIGIT FIVE}", "-1", "1e3", "1 2"],
    ids=["5000-digits", "superscript-2", "arabic-indic-5", "negative", "exponent", "space"],
)
def test_a_malformed_content_length_is_400_before_any_token(
    clean: str, served: Served, length: str
) -> None:
    data = request_bytes("POST", "/pusher/auth", {"Content-Length": length}, b"socket_id=1.2")
    code, message = _error(served, data)
    assert code == 400 and message.startswith("Content-Length must be"), message


def test_a_content_length_above_the_limit_is_413(clean: str, served: Served) -> None:
    data = request_bytes("POST", "/pusher/auth", {"Content-Length": "9999999"}, b"x" * 100)
    code, message = _error(served, data)
    assert code == 413, message


def test_a_body_nested_4000_deep_on_pusher_auth_is_400(clean: str, served: Served) -> None:
    body = b"[" * 4000 + b"]" * 4000
    headers = {
        "Authorization": f"Bearer {token()}",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    code, message = _error(served, request_bytes("POST", "/pusher/auth", headers, body))
    assert code == 400 and message.startswith("request body unreadable"), message


@pytest.mark.parametrize(
    "body",
    [b'{"socket_id": [1], "channel_name": "c"}', b'{"socket_id": "1.2", "channel_name": {}}'],
)
def test_pusher_auth_json_fields_must_be_strings(clean: str, served: Served, body: bytes) -> None:
    headers = {
        "Authorization": f"Bearer {token()}",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    code, message = _error(served, request_bytes("POST", "/pusher/auth", headers, body))
    assert code == 400 and message.endswith("must be a string"), message


# --- http.server's own refusals, as JSON ---------------------------------------------------
def test_http_servers_own_errors_are_json(clean: str, served: Served) -> None:
    code, message = _error(served, request_bytes("GET", "/" + "a" * 70_000))
    assert code == 414, message
    code, message = _error(served, request_bytes("GET", "/healthz", {"X-Big": "b" * 70_000}))
    assert code == 431, message
    many = {f"X-H{i}": "v" for i in range(150)}
    code, message = _error(served, request_bytes("GET", "/healthz", many))
    assert code == 431, message
    code, message = _error(served, b"GET /healthz HTTP/1.1x\r\n\r\n")
    assert code == 400 and "version" in message, message
    code, message = _error(served, b"total garbage here now\r\n\r\n")
    assert code == 400, message


@pytest.mark.parametrize("method", ["PROPFIND", "OPTIONS", "TRACE", "FOO", "CONNECT", "PUT"])
def test_any_other_method_is_405_json_with_allow(clean: str, served: Served, method: str) -> None:
    for path, allow in (("/healthz", "GET, HEAD"), ("/pusher/auth", "POST")):
        reply = exchange(served.port, request_bytes(method, path))
        assert reply is not None and reply.status == 405, reply
        assert reply.headers["allow"] == allow and reply.json()["error"], reply
