"""Fuzz of every route and parameter of ``agentq serve`` (issue 20): whatever a client
sends — any method, a path segment, query parameters, headers and a body of random
text, Unicode, percent-encoded bytes (lone surrogates among them), huge numbers, deep
JSON, tokens with claims of every type — the answer is never a 5xx, and every error
is JSON. The server object runs on a real socket against the session's PostgreSQL and
Redis with everything up (a worker's instances seeded, Pusher configured), so no 5xx
can be an unavailable dependency: any 5xx fails the test. Routes and their parameters
come from the server's own table (``workers/serve/routes.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, quote_from_bytes

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persistence.browse import encode_cursor
from persistence.schema import AGENT_TYPE_VALUES
from persistence.sql_store import SQLStore
from tests.support.raw_http import exchange, request_bytes
from tests.support.served import JWT_SECRET, InProcess, token
from workers.serve.routes import PUSHER_AUTH, ROUTES, Route

EXAMPLES = 150  # per test; the four take about 30 s here
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]


@pytest.fixture(scope="module")
def server(database_url: str, redis_client: Any) -> Iterator[InProcess]:
    from tests.support.database import reset_recording

    reset_recording(database_url, redis_client)
    store = SQLStore(database_url, pool_size=1)
    try:  # a worker consuming every queue is up: health is not unhealthy for want of one
        store.set_instances_status("fuzz@h", list(AGENT_TYPE_VALUES), "idle", datetime.now(UTC))
    finally:
        store.close()
    served = InProcess(
        supabase_jwt_secret=JWT_SECRET,
        stale_agent_seconds=3600,
        pusher_app_id="1",
        pusher_key="fuzz-key",
        pusher_secret="fuzz-secret",
        pusher_cluster="mt1",
    )
    for path in ("/healthz", "/api/v1/health/supabase"):  # everything up, or the fuzz means nothing
        reply = exchange(served.port, request_bytes("GET", path))
        assert reply is not None and reply.status == 200, (path, reply)
    yield served
    served.close()


# --- what a client may send ----------------------------------------------------------------
_any_char = st.characters(exclude_categories=())  # lone surrogates too
_text = st.text(_any_char, max_size=40)
_latin1 = st.text(  # a header value: any latin-1 but CR and LF
    st.characters(min_codepoint=0, max_codepoint=0xFF, exclude_characters="\r\n"), max_size=60
)
# A dictionary of known troublemakers beside the random draws, as fuzzers keep one:
# digits int() refuses though str.isdigit() says yes, other scripts' digits, and lengths
# around int()'s 4300-digit limit.
_odd_digits = st.sampled_from(
    [
        "\N{SUPERSCRIPT TWO}",
        "\N{CIRCLED DIGIT ONE}",
        "\N{ARABIC-INDIC DIGIT FIVE}",
        "\N{FULLWIDTH DIGIT FIVE}",
        "\N{MATHEMATICAL BOLD DIGIT FIVE}",
    ]
)
_numbers = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(4290, 4400).map(lambda n: "1" * n),
    st.lists(_odd_digits, min_size=1, max_size=3).map("".join),
    st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=6),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**40), 10**40) | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_offsets = st.timedeltas(timedelta(hours=-23, minutes=-59), timedelta(hours=23, minutes=59))
_cursors = st.builds(
    encode_cursor,
    st.datetimes(timezones=_offsets.map(timezone)),
    st.one_of(
        _text,
        st.text(_any_char, min_size=250, max_size=300),
        st.sampled_from(["\x00", "\ud800", "\udfff", "\n"]).map(lambda c: f"a{c}b"),
    ),
)
_known = st.sampled_from(
    ["queued", "failed", "quiz_generator", "quiz_generator@w1", "1", "50", "500", "24", "0.5",
     "6f1c2d3e-0000-4000-8000-000000000001", "some-task", "app.js", "index.html",
     "vendor/pusher.min.js", ""]
)  # fmt: skip


def _encoded(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


_values = st.one_of(
    _known.map(_encoded),
    _text.map(_encoded),
    _numbers.map(_encoded),
    _cursors,
    st.binary(max_size=30).map(lambda b: quote_from_bytes(b, safe="")),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"),
            max_size=30),  # raw, unencoded: & = % ; as they come
)  # fmt: skip


def _claims() -> st.SearchStrategy[dict[str, Any]]:
    near_now = st.integers(-(10**6), 10**6).map(lambda d: int(datetime.now(UTC).timestamp()) + d)
    number = st.one_of(near_now, st.integers(), st.floats(), _json)
    return st.fixed_dictionaries(
        {},
        optional={
            "role": st.one_of(st.sampled_from(["authenticated", "service_role", "anon"]), _json),
            "sub": st.one_of(st.just("user-a"), _json),
            "exp": number,
            "iat": number,
            "nbf": number,
            "aud": _json,
        },
    )


_CLAIMS = _claims()


def _signed(claims: dict[str, Any]) -> str:
    try:
        return jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    except (TypeError, ValueError, OverflowError):  # PyJWT could not write it: send garbage
        return "not.a.token"


_hostile_authorization = st.one_of(
    st.none(),
    _CLAIMS.map(lambda c: "Bearer " + _signed(c)),
    _latin1,
    _latin1.map(lambda t: "Bearer " + t),
)
_content_type = st.one_of(
    st.none(),
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
    _latin1,
)
_bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    # deep JSON: below, around and above the interpreter's recursion limit (1000)
    st.one_of(st.integers(1, 4096), st.sampled_from([999, 1000, 2000, 4000, 4096])).map(
        lambda n: b"[" * n + b"]" * n
    ),
    st.integers(900, 1365).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    _json.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(["socket_id", "channel_name", "other"]), st.one_of(_json, _text)
    ).map(lambda d: json.dumps(d).encode()),
    st.tuples(_values, _values).map(lambda v: f"socket_id={v[0]}&channel_name={v[1]}".encode()),
    st.just(b"socket_id=123.456&channel_name=private-agentq-user-user-a"),
)


def _valid_token(_: object) -> str:
    return "Bearer " + token()


@st.composite
def requests(
    draw: st.DrawFn, authorization: st.SearchStrategy[str | None]
) -> tuple[str, str, dict[str, str], bytes]:
    """Any request to a route of the table: method, path segment, parameters, headers
    and body all drawn, the Authorization header from ``authorization``."""
    route: Route = draw(st.sampled_from(ROUTES))
    method = draw(
        st.one_of(
            st.sampled_from(route.methods),
            st.sampled_from(METHODS),
            st.from_regex(r"[A-Z]{1,12}", fullmatch=True),
        )
    )
    path = route.path
    for hole in ("<task_id>", "<file>"):
        if hole in path:
            path = path.replace(hole, draw(_values) or "x")
    params = [(name, draw(_values)) for name in route.params if draw(st.booleans())]
    if draw(st.integers(0, 9)) == 0:  # now and then an unknown or a repeated parameter
        params.append((draw(st.sampled_from([*route.params, "x", "limit"])), draw(_values)))
    query = "&".join(f"{k}={v}" for k, v in draw(st.permutations(params)))
    body = draw(_bodies)
    headers: dict[str, str] = {}
    for name, value in (
        ("Authorization", draw(authorization)),
        ("Content-Type", draw(_content_type)),
        ("Content-Length", draw(st.one_of(st.just(str(len(body))), st.none(), _numbers, _latin1))),
        ("Accept", draw(st.one_of(st.none(), _latin1))),
    ):
        if value is not None:
            headers[name] = value
    return method, path + (f"?{query}" if query else ""), headers, body


# A value each parameter accepts: the others keep it while one is hostile, so that the
# check of the hostile one is reached (a bad status would answer 400 before the limit).
_GOOD = {
    "status": "queued",
    "agent_type": "quiz_generator",
    "user_id": "6f1c2d3e-0000-4000-8000-000000000001",
    "limit": "50",
    "before": encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "some-task"),
    "agent_id": "quiz_generator@w1",
    "hours": "24",
}


@st.composite
def parameters(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    """A GET of a route that takes parameters, with a valid token: one parameter has a
    hostile value, the others are good or left out."""
    route: Route = draw(st.sampled_from([r for r in ROUTES if r.params]))
    hostile = draw(st.sampled_from(route.params))
    given = [
        (name, draw(_values) if name == hostile else _GOOD[name])
        for name in route.params
        if name == hostile or draw(st.booleans())
    ]
    query = "&".join(f"{k}={v}" for k, v in draw(st.permutations(given)))
    return "GET", f"{route.path}?{query}", {"Authorization": _valid_token(None)}, b""


@st.composite
def tokens(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    """A protected route with a token signed with the right secret and hostile claims."""
    route: Route = draw(st.sampled_from([r for r in ROUTES if r.token]))
    path = route.path.replace("<task_id>", "some-task")
    body = b"socket_id=123.456&channel_name=private-agentq-user-user-a"
    headers = {
        "Authorization": "Bearer " + _signed(draw(_CLAIMS)),
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(body)),
    }
    return route.methods[0], path, headers, body


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    """POST /pusher/auth with a valid token and a hostile body and headers."""
    body = draw(_bodies)
    headers = {"Authorization": _valid_token(None), "Content-Length": str(len(body))}
    content_type = draw(st.one_of(st.just("application/json"), _content_type))
    if content_type is not None:
        headers["Content-Type"] = content_type
    return "POST", PUSHER_AUTH, headers, body


def _check(server: InProcess, request: tuple[str, str, dict[str, str], bytes]) -> None:
    method, target, headers, body = request
    reply = exchange(server.port, request_bytes(method, target, headers, body))
    assert reply is not None, "no answer"
    assert reply.status < 500, (reply.status, reply.body[:300])
    if reply.status >= 400 and method != "HEAD":
        assert reply.headers.get("content-type") == "application/json", reply
        assert list(reply.json()) == ["error"], reply


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(request=requests(st.one_of(st.builds(_valid_token, st.none()), _hostile_authorization)))
def test_no_request_is_answered_with_a_5xx(
    server: InProcess, request: tuple[str, str, dict[str, str], bytes]
) -> None:
    _check(server, request)


@FUZZ
@given(request=parameters())
def test_no_parameter_value_is_answered_with_a_5xx(
    server: InProcess, request: tuple[str, str, dict[str, str], bytes]
) -> None:
    _check(server, request)


@FUZZ
@given(request=tokens())
def test_no_signed_token_is_answered_with_a_5xx(
    server: InProcess, request: tuple[str, str, dict[str, str], bytes]
) -> None:
    _check(server, request)


@FUZZ
@given(request=bodies())
def test_no_pusher_auth_body_is_answered_with_a_5xx(
    server: InProcess, request: tuple[str, str, dict[str, str], bytes]
) -> None:
    _check(server, request)


def test_every_route_of_the_table_is_served(server: InProcess) -> None:
    """The table is the server's: no route of it is an unknown path."""
    for route in ROUTES:
        path = route.path.replace("<task_id>", "t").replace("<file>", "app.js")
        reply = exchange(server.port, request_bytes(route.methods[0], path))
        assert reply is not None, path
        unknown = reply.status == 404 and b"no such endpoint" in reply.body
        assert not unknown, (path, reply)
