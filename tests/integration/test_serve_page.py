"""The live page's files over HTTP from a real ``agentq serve``: types and headers, the
vendored pusher-js, paths that try to leave the static directory (sent as they are, not
normalised by a client), and the API still routed next to them."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.page import ServeProcess

PUSHER_JS = Path(__file__).resolve().parents[2] / "node_modules/pusher-js/dist/web/pusher.min.js"


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[ServeProcess]:
    server = ServeProcess({}).start()
    yield server
    server.stop()


def _raw(served: ServeProcess, path: str, method: str = "GET") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    conn.endheaders()
    return conn.getresponse()


def test_the_page_and_its_files(served: ServeProcess) -> None:
    resp = _raw(served, "/")
    body = resp.read().decode()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/html; charset=utf-8"
    assert "default-src 'self'" in (resp.getheader("Content-Security-Policy") or "")
    assert '<script type="module" src="/static/app.js">' in body
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        resp = _raw(served, f"/static/{name}")
        assert resp.status == 200, resp.read()
        assert resp.getheader("Content-Type") == f"{kind}; charset=utf-8"
        assert resp.getheader("X-Content-Type-Options") == "nosniff"
        resp.read()
    head = _raw(served, "/static/app.js", "HEAD")
    assert head.status == 200 and head.read() == b"" and int(head.getheader("Content-Length")) > 0


def test_pusher_js_is_served_from_node_modules(served: ServeProcess) -> None:
    if not PUSHER_JS.exists():
        pytest.skip("pusher-js is not installed: npm install at the project root")
    resp = _raw(served, "/static/vendor/pusher.min.js")
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/javascript")
    assert resp.read() == PUSHER_JS.read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../server.py",
        "/static/../../pyproject.toml",
        "/static/%2e%2e/server.py",
        "/static/..%2f..%2fpyproject.toml",
        "/static/vendor/../../page.py",
        "/static//etc/passwd",
        "/static/page.py",
        "/static/vendor/pusher.js",
    ],
)
def test_no_path_leaves_the_static_files(served: ServeProcess, path: str) -> None:
    resp = _raw(served, path)
    assert resp.status == 404
    assert json.loads(resp.read())["error"].startswith("no such file: ")


def test_the_api_is_still_routed(served: ServeProcess) -> None:
    resp = _raw(served, "/api/v1/realtime")
    assert resp.status == 200 and json.loads(resp.read())["enabled"] is False
