"""The page's files as ``agentq serve`` answers them (``workers/serve/page.py``): what is
served with which type, that no path leaves the static directory, where pusher-js is
found, and that the page's copies of the schema's enums and its file list agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from persistence.schema import AGENT_TYPE_VALUES, TASK_STATUS_VALUES
from workers.reconcile.kinds import KINDS
from workers.serve import page

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "workers" / "serve" / "static"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/static/index.html", "text/html; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/live.js", "text/javascript; charset=utf-8"),
        ("/static/app.css", "text/css; charset=utf-8"),
    ],
)
def test_page_files_are_served_with_their_type(path: str, content_type: str) -> None:
    found = page.find(path)
    assert isinstance(found, page.Asset), found
    assert found.content_type == content_type
    assert found.headers["X-Content-Type-Options"] == "nosniff"
    name = "index.html" if path == "/" else path.rsplit("/", 1)[1]
    assert found.body == (STATIC / name).read_bytes()


def test_the_html_carries_a_content_security_policy() -> None:
    found = page.find("/")
    assert isinstance(found, page.Asset)
    policy = found.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src" not in policy  # scripts: self only
    assert "Content-Security-Policy" not in page.find("/static/app.js").headers  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "path",
    [
        "/static/../page.py",
        "/static/..%2fpage.py",
        "/static/%2e%2e/page.py",
        "/static/vendor/../../page.py",
        "/static//etc/passwd",
        "/static/../../../../etc/passwd",
        "/static/page.py",
        "/static/.app.js",
        "/static/app.js/",
        "/static/nope.js",
        "/static/",
        "/static/vendor/pusher.js",
        "/static/APP.JS",
        "/static/app.js\x00.css",
    ],
)
def test_nothing_outside_the_static_files_is_served(path: str) -> None:
    found = page.find(path)
    assert isinstance(found, str) and found.startswith("no such file: ")


def test_handles_only_the_page_paths() -> None:
    assert page.handles("/") and page.handles("/static/app.js")
    assert not page.handles("/api/v1/health") and not page.handles("/staticfile")


def test_pusher_js_comes_from_the_configured_node_modules(tmp_path: Path) -> None:
    target = tmp_path / "pusher-js" / "dist" / "web" / "pusher.min.js"
    target.parent.mkdir(parents=True)
    target.write_text("window.Pusher = function () {};")
    found = page.find("/static/vendor/pusher.min.js", tmp_path)
    assert isinstance(found, page.Asset)
    assert found.body == target.read_bytes()
    assert found.content_type == "text/javascript; charset=utf-8"


def test_missing_pusher_js_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(page, "PROJECT_NODE_MODULES", tmp_path / "project" / "node_modules")
    found = page.find("/static/vendor/pusher.min.js", tmp_path / "configured")
    assert isinstance(found, str)
    assert "npm install" in found and "AGENTQ_NODE_MODULES" in found
    assert str(tmp_path / "configured" / "pusher-js") in found


def _js_list(source: str, name: str) -> list[str]:
    match = re.search(rf"const {name} = \[(.*?)\];", source, re.S)
    assert match, f"{name} not found in app.js"
    return re.findall(r'"([a-z_]+)"', match.group(1))


def test_the_pages_enums_are_the_schemas() -> None:
    source = (STATIC / "app.js").read_text()
    assert _js_list(source, "AGENT_TYPES") == list(AGENT_TYPE_VALUES)
    assert _js_list(source, "STATUSES") == list(TASK_STATUS_VALUES)
    assert _js_list(source, "RECONCILE_KINDS") == list(KINDS)


def test_every_file_the_page_loads_exists_and_is_packaged() -> None:
    html = (STATIC / "index.html").read_text()
    wanted = set(re.findall(r'(?:src|href)="/static/([^"]+)"', html))
    for js in STATIC.glob("*.js"):
        wanted |= set(re.findall(r'from "\./([^"]+)"', js.read_text()))
    assert wanted >= {"app.js", "app.css", "api.js", "live.js", "charts.js", "timeline.js"}
    for name in wanted:
        assert isinstance(page.find(f"/static/{name}"), page.Asset), name
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["workers"]
    packaged = {p.name for g in globs for p in (ROOT / "workers").glob(g)}
    assert packaged == {p.name for p in STATIC.iterdir()}
