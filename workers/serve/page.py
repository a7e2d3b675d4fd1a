"""The live operations page's files, as ``agentq serve`` answers them.

* ``GET /`` — ``static/index.html``;
* ``GET /static/<name>`` — a file of ``workers/serve/static/`` (names of letters, digits,
  ``-`` and ``_`` with a known extension: nothing else is ever looked up, so no path can
  leave the directory);
* ``GET /static/vendor/pusher.min.js`` — pusher-js from npm (``pusher-js`` in
  package.json): ``node_modules/pusher-js/dist/web/pusher.min.js`` under
  ``AGENTQ_NODE_MODULES`` if set, else under the working directory, else under the
  project's root. Missing, the page polls the API instead and says so.

The page is plain HTML and JavaScript modules (no build step, no CDN). It reads
everything it shows from the JSON API and from Pusher events (docs/page.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

INDEX = "/"
STATIC = "/static/"
PUSHER_JS = "vendor/pusher.min.js"
_PUSHER_IN_NODE_MODULES = Path("pusher-js", "dist", "web", "pusher.min.js")
PROJECT_NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
_NAME = re.compile(r"[A-Za-z0-9_-]+\.(html|js|css|svg|png)")
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
}
# Scripts and styles only from this server; websockets to Pusher (or soketi) anywhere.
PAGE_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss: http: https:; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    headers: dict[str, str]


def handles(path: str) -> bool:
    """Whether ``path`` (without query) is the page's: ``/`` or under ``/static/``."""
    return path == INDEX or path.startswith(STATIC)


def find(path: str, node_modules: Path | None = None) -> Asset | str:
    """The file served at ``path``, or why there is none (for a 404 body)."""
    name = "index.html" if path == INDEX else path[len(STATIC) :]
    if name == PUSHER_JS:
        return _pusher_js(node_modules)
    match = _NAME.fullmatch(name)
    if match is None:
        return f"no such file: {path}"
    source = resources.files("workers.serve").joinpath("static", name)
    if not source.is_file():
        return f"no such file: {path}"
    headers = {"X-Content-Type-Options": "nosniff"}
    if match.group(1) == "html":
        headers |= {"Content-Security-Policy": PAGE_POLICY, "Referrer-Policy": "no-referrer"}
    return Asset(source.read_bytes(), CONTENT_TYPES[match.group(1)], headers)


def pusher_js_candidates(node_modules: Path | None = None) -> list[Path]:
    """Where pusher-js is looked for, in order."""
    roots = [node_modules] if node_modules else []
    roots += [Path.cwd() / "node_modules", PROJECT_NODE_MODULES]
    return [root / _PUSHER_IN_NODE_MODULES for root in roots]


def _pusher_js(node_modules: Path | None) -> Asset | str:
    candidates = pusher_js_candidates(node_modules)
    for candidate in candidates:
        if candidate.is_file():
            headers = {"X-Content-Type-Options": "nosniff"}
            return Asset(candidate.read_bytes(), CONTENT_TYPES["js"], headers)
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    return (
        "pusher-js is not installed (npm install at the project root, or set"
        f" AGENTQ_NODE_MODULES); looked for {looked}"
    )
