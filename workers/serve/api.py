"""The operations page's JSON API, served by ``agentq serve`` (``workers/serve/server.py``).

Open (no token): ``GET /api/v1/health`` (the report of ``agentq health``, always 200: the
verdict is in the body) and ``GET /api/v1/realtime`` (what a browser needs to connect to
Pusher; never a secret). Token required (``workers/serve/auth.py``):
``GET /api/v1/executions``, ``GET /api/v1/executions/<task_id>``, ``GET /api/v1/agents``,
``GET /api/v1/metrics`` and ``POST /pusher/auth``. The contract is docs/api.md.

Query parameters are checked before anything is read: an unknown or repeated parameter,
an unknown status or agent type, a user id that is not a UUID, a limit outside 1..500, a
cursor this API did not make, an hours value outside (0, 2160] or a malformed agent id is
400 with ``{"error": ...}`` naming the parameter. An empty value counts as not given.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from persistence import browse, task_ids
from persistence.errors import DatabaseUnavailable, PersistenceError
from persistence.lifecycle import TaskStatus
from persistence.metrics import get_agent_metrics
from persistence.schema import AGENT_TYPE_VALUES
from workers.serve.auth import AuthError, Identity, pusher_authorize, verify

PREFIX = "/api/v1/"
PUSHER_AUTH = "/pusher/auth"
LIMIT_DEFAULT, LIMIT_MAX = 50, 500
HOURS_DEFAULT, HOURS_MAX = 24.0, 2160.0  # 90 days: metrics retention's default
MAX_BODY = 8192
STATUSES = tuple(s.value for s in TaskStatus)

Answer = tuple[int, dict[str, Any]]


class BadRequest(Exception):
    """400: the message names the parameter."""


def handles(path: str) -> bool:
    """Whether ``path`` is one of this module's (the server's dispatch asks)."""
    return path.startswith(PREFIX) or path == PUSHER_AUTH


def answer(server: Any, method: str, path: str, query: str, headers: Any, body: bytes) -> Answer:
    """The status and JSON body of an API request (``server``: the HealthServer, with
    ``settings`` and ``store``). Never raises for the caller's mistakes."""
    try:
        if path == PUSHER_AUTH:
            if method != "POST":
                return 405, {"error": f"{PUSHER_AUTH} takes POST"}
            return 200, _pusher_auth(server, headers, body)
        if method not in ("GET", "HEAD"):
            return 405, {"error": "only GET is supported"}
        name = path[len(PREFIX) :]
        params = _params(query)
        if name in _OPEN:
            return _OPEN[name](server, params)
        if name == "executions" or name.startswith("executions/"):
            verify(server.settings, headers.get("Authorization"))
            if name == "executions":
                return _executions(server, params)
            return _execution(server, params, unquote(name[len("executions/") :]))
        if name in _PROTECTED:
            verify(server.settings, headers.get("Authorization"))
            return _PROTECTED[name](server, params)
        return 404, {"error": f"no such endpoint: {path}"}
    except AuthError as exc:
        return exc.status, {"error": exc.message}
    except BadRequest as exc:
        return 400, {"error": str(exc)}
    except DatabaseUnavailable:
        return 503, {"error": "database unavailable; try again shortly"}
    except PersistenceError as exc:
        return 503, {"error": f"database refused the read: {type(exc).__name__}"}


# --- parameters ---------------------------------------------------------------------
def _params(query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise BadRequest(f"query string unreadable: {exc}") from None
    out = {}
    for key, values in parsed.items():
        if len(values) > 1:
            raise BadRequest(f"parameter {key!r} given {len(values)} times")
        if values[0] != "":
            out[key] = values[0]
    return out


def _only(params: dict[str, str], *known: str) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        allowed = ", ".join(known) if known else "none"
        raise BadRequest(f"unknown parameter {unknown[0]!r} (allowed: {allowed})")


def _choice(params: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} {value!r} is not one of: {', '.join(allowed)}")
    return value


def _uuid(params: dict[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadRequest(f"{name} {value[:80]!r} is not a UUID") from None


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {value[:40]!r}")
    return int(value)


def _hours(params: dict[str, str]) -> float:
    value = params.get("hours")
    if value is None:
        return HOURS_DEFAULT
    try:
        hours = float(value)
    except ValueError:
        hours = float("nan")
    if not 0 < hours <= HOURS_MAX:  # NaN fails this too
        raise BadRequest(f"hours must be a number above 0 and at most {HOURS_MAX:g}, not {value!r}")
    return hours


def _agent_id(params: dict[str, str]) -> str | None:
    value = params.get("agent_id")
    if value is None:
        return None
    agent_type, at, worker = value.partition("@")
    if not at or agent_type not in AGENT_TYPE_VALUES or not _printable(worker, 255):
        raise BadRequest(
            f"agent_id {value[:80]!r} is not <agent_type>@<worker> with a known agent type"
        )
    return value


def _printable(text: str, max_len: int) -> bool:
    return 0 < len(text) <= max_len and text.isprintable()


# --- endpoints ------------------------------------------------------------------------
def _health(server: Any, params: dict[str, str]) -> Answer:
    from workers.health.report import health_check

    _only(params)
    return 200, health_check(server.settings, store=server.store)


def _realtime(server: Any, params: dict[str, str]) -> Answer:
    _only(params)
    s = server.settings
    enabled = bool(s.pusher_app_id and s.pusher_key and s.pusher_secret)
    enabled = enabled and bool(s.pusher_cluster or s.pusher_host)
    return 200, {
        "enabled": enabled,
        "key": s.pusher_key if enabled else None,
        "host": s.pusher_host if enabled else None,
        "port": s.pusher_port if enabled else None,
        "tls": bool(s.pusher_ssl),
        "cluster": s.pusher_cluster if enabled else None,
        "prefix": s.realtime_channel_prefix,
        "public_channels": bool(s.realtime_public_channels),
        "private_user_channels": bool(
            s.realtime_user_channels and s.realtime_private_user_channels
        ),
        "auth_endpoint": PUSHER_AUTH,
    }


def _executions(server: Any, params: dict[str, str]) -> Answer:
    _only(params, "status", "agent_type", "user_id", "limit", "before")
    status = _choice(params, "status", STATUSES)
    agent_type = _choice(params, "agent_type", AGENT_TYPE_VALUES)
    user_id = _uuid(params, "user_id")
    limit = _int(params, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX)
    before = None
    if "before" in params:
        try:
            before = browse.decode_cursor(params["before"])
        except ValueError as exc:
            raise BadRequest(f"before: {exc}") from None
    rows, after = browse.list_executions(
        server.store,
        status=status,
        agent_type=agent_type,
        user_id=user_id,
        limit=limit,
        before=before,
    )
    return 200, {
        "executions": rows,
        "next_before": browse.encode_cursor(*after) if after else None,
    }


def _execution(server: Any, params: dict[str, str], task_id: str) -> Answer:
    _only(params)
    problem = task_ids.task_id_problem(task_id)  # the one rule for ids
    if problem is not None:
        raise BadRequest(f"task_id {task_ids.show(task_id)} is not a task id: it {problem}")
    row = server.store.get_execution(task_id)
    if row is None:
        return 404, {"error": f"no execution with task_id {task_id!r}"}
    return 200, row


def _agents(server: Any, params: dict[str, str]) -> Answer:
    _only(params)
    stale_s = float(getattr(server.settings, "stale_agent_seconds", 60.0))
    return 200, {"agents": browse.list_agents(server.store, stale_s)}


def _metrics(server: Any, params: dict[str, str]) -> Answer:
    _only(params, "agent_id", "hours")
    agent_id, hours = _agent_id(params), _hours(params)
    rows = get_agent_metrics(server.store, agent_id, hours)
    return 200, {"metrics": rows[::-1]}  # the query gives newest first


def _pusher_auth(server: Any, headers: Any, body: bytes) -> dict[str, Any]:
    identity: Identity = verify(server.settings, headers.get("Authorization"))
    form = _form(headers.get("Content-Type") or "", body)
    return pusher_authorize(
        server.settings, identity, form.get("socket_id"), form.get("channel_name")
    )


def _form(content_type: str, body: bytes) -> dict[str, str]:
    """pusher-js posts ``socket_id=…&channel_name=…`` form-encoded; JSON is taken too."""
    try:
        text = body.decode()
        if content_type.split(";")[0].strip() == "application/json":
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return {str(k): str(v) for k, v in data.items()}
    except (UnicodeDecodeError, ValueError) as exc:
        raise AuthError(400, f"request body unreadable: {exc}") from None
    return {k: v[0] for k, v in parse_qs(text).items()}


_OPEN: dict[str, Callable[[Any, dict[str, str]], Answer]] = {
    "health": _health,
    "realtime": _realtime,
}
_PROTECTED: dict[str, Callable[[Any, dict[str, str]], Answer]] = {
    "agents": _agents,
    "metrics": _metrics,
}
