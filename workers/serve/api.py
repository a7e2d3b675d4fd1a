"""The operations page's JSON API, served by ``agentq serve`` (``workers/serve/server.py``).

Open (no token): ``GET /api/v1/health`` (the report of ``agentq health``, always 200: the
verdict is in the body) and ``GET /api/v1/realtime`` (what a browser needs to connect to
Pusher; never a secret). Token required (``workers/serve/auth.py``):
``GET /api/v1/executions``, ``GET /api/v1/executions/<task_id>``, ``GET /api/v1/agents``,
``GET /api/v1/metrics`` and ``POST /pusher/auth``. The contract is docs/api.md.

Query parameters are checked before anything is read (``workers/serve/params.py``): an
unknown or repeated parameter, an unknown status or agent type, a user id that is not a
UUID, a limit outside 1..500 or not in ASCII digits, a cursor this API did not make (or
whose task id is not one), an hours value outside (0, 2160] or a malformed agent id is
400 with ``{"error": ...}`` naming the parameter. An empty value counts as not given.
Routes and their parameters are the table of ``workers/serve/routes.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from email.message import Message
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

from persistence import browse
from persistence.errors import DatabaseUnavailable, PersistenceError
from persistence.lifecycle import TaskStatus
from persistence.metrics import get_agent_metrics
from persistence.schema import AGENT_TYPE_VALUES
from persistence.sql_store import SQLStore
from workers.serve import params as p
from workers.serve.auth import AuthError, Identity, pusher_authorize, verify
from workers.serve.params import BadRequest
from workers.serve.routes import API as PREFIX
from workers.serve.routes import PUSHER_AUTH, ROUTES, params_of
from workers.settings import Settings

LIMIT_DEFAULT, LIMIT_MAX = 50, 500
HOURS_DEFAULT, HOURS_MAX = 24.0, 2160.0  # 90 days: metrics retention's default
MAX_BODY = 8192
STATUSES = tuple(s.value for s in TaskStatus)
_FORM = next(r.form for r in ROUTES if r.path == PUSHER_AUTH)

Answer = tuple[int, dict[str, Any]]


class Served(Protocol):
    """What the API reads off its server (``workers/serve/server.py``'s HealthServer)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> SQLStore: ...


def handles(path: str) -> bool:
    """Whether ``path`` is one of this module's (the server's dispatch asks)."""
    return path.startswith(PREFIX) or path == PUSHER_AUTH


def answer(
    server: Served, method: str, path: str, query: str, headers: Message, body: bytes
) -> Answer:
    """The status and JSON body of an API request. Never raises for the caller's
    mistakes."""
    try:
        if path == PUSHER_AUTH:
            if method != "POST":
                return 405, {"error": f"{PUSHER_AUTH} takes POST"}
            return 200, _pusher_auth(server, headers, body)
        if method not in ("GET", "HEAD"):
            return 405, {"error": "only GET is supported"}
        name = path[len(PREFIX) :]
        params = p.parse(query)
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
        return 404, {"error": f"no such endpoint: {path[:200]}"}
    except AuthError as exc:
        return exc.status, {"error": exc.message}
    except BadRequest as exc:
        return 400, {"error": str(exc)}
    except DatabaseUnavailable:
        return 503, {"error": "database unavailable; try again shortly"}
    except PersistenceError as exc:
        return 503, {"error": f"database refused the read: {type(exc).__name__}"}


# --- endpoints ------------------------------------------------------------------------
def _health(server: Served, params: dict[str, str]) -> Answer:
    from workers.health.report import health_check

    p.only(params, params_of(PREFIX + "health"))
    return 200, health_check(server.settings, store=server.store)


def _realtime(server: Served, params: dict[str, str]) -> Answer:
    p.only(params, params_of(PREFIX + "realtime"))
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


def _executions(server: Served, params: dict[str, str]) -> Answer:
    p.only(params, params_of(PREFIX + "executions"))
    status = p.choice(params, "status", STATUSES)
    agent_type = p.choice(params, "agent_type", AGENT_TYPE_VALUES)
    user_id = p.uuid_of(params, "user_id")
    limit = p.whole(params, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX)
    before = p.cursor(params, "before")
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


def _execution(server: Served, params: dict[str, str], task_id: str) -> Answer:
    p.only(params, params_of(PREFIX + "executions/<task_id>"))
    row = server.store.get_execution(p.check_task_id(task_id))
    if row is None:
        return 404, {"error": f"no execution with task_id {task_id!r}"}
    return 200, row


def _agents(server: Served, params: dict[str, str]) -> Answer:
    p.only(params, params_of(PREFIX + "agents"))
    stale_s = float(getattr(server.settings, "stale_agent_seconds", 60.0))
    return 200, {"agents": browse.list_agents(server.store, stale_s)}


def _metrics(server: Served, params: dict[str, str]) -> Answer:
    p.only(params, params_of(PREFIX + "metrics"))
    agent_id, hours = p.agent_id(params), p.hours(params, HOURS_DEFAULT, HOURS_MAX)
    rows = get_agent_metrics(server.store, agent_id, hours)
    return 200, {"metrics": rows[::-1]}  # the query gives newest first


def _pusher_auth(server: Served, headers: Message, body: bytes) -> dict[str, Any]:
    identity: Identity = verify(server.settings, headers.get("Authorization"))
    form = _form(headers.get("Content-Type") or "", body)
    return pusher_authorize(
        server.settings, identity, form.get("socket_id"), form.get("channel_name")
    )


def _form(content_type: str, body: bytes) -> dict[str, str]:
    """pusher-js posts ``socket_id=…&channel_name=…`` form-encoded; a JSON object is taken
    too. Only string values of the form's fields are kept: anything else is 400."""
    try:
        text = body.decode()
        if content_type.split(";")[0].strip().lower() != "application/json":
            return {k: v[0] for k, v in parse_qs(text).items()}
        data = json.loads(text)  # RecursionError: [[[[… a few thousand deep
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise AuthError(400, f"request body unreadable: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise AuthError(400, "request body unreadable: JSON that is not an object")
    fields = {k: data[k] for k in _FORM if k in data}
    wrong = sorted(k for k, v in fields.items() if not isinstance(v, str))
    if wrong:
        raise AuthError(400, f"request body: {wrong[0]} must be a string")
    return fields


_OPEN: dict[str, Callable[[Any, dict[str, str]], Answer]] = {
    "health": _health,
    "realtime": _realtime,
}
_PROTECTED: dict[str, Callable[[Any, dict[str, str]], Answer]] = {
    "agents": _agents,
    "metrics": _metrics,
}
