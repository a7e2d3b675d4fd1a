"""Every route of ``agentq serve``: its path, methods, query parameters and whether it
needs a token. The server and the API dispatch by these paths and take only these
parameters; the fuzz test (tests/integration/test_serve_fuzz.py) reads this table to
reach every route with every parameter."""

from __future__ import annotations

from dataclasses import dataclass

GET = ("GET", "HEAD")


@dataclass(frozen=True)
class Route:
    path: str  # <name> marks one path segment the caller chooses
    methods: tuple[str, ...] = GET
    params: tuple[str, ...] = ()
    token: bool = False
    form: tuple[str, ...] = ()  # fields of a POST body


HEALTHZ = "/healthz"
SUPABASE_HEALTH = "/api/v1/health/supabase"
METRICS = "/metrics"
INDEX = "/"
STATIC = "/static/"
API = "/api/v1/"
PUSHER_AUTH = "/pusher/auth"

ROUTES = (
    Route(HEALTHZ),
    Route(SUPABASE_HEALTH),
    Route(METRICS),
    Route(INDEX),
    Route(STATIC + "<file>"),
    Route(API + "health"),
    Route(API + "realtime"),
    Route(
        API + "executions",
        params=("status", "agent_type", "user_id", "limit", "before"),
        token=True,
    ),
    Route(API + "executions/<task_id>", token=True),
    Route(API + "agents", token=True),
    Route(API + "metrics", params=("agent_id", "hours"), token=True),
    Route(PUSHER_AUTH, methods=("POST",), token=True, form=("socket_id", "channel_name")),
)


def params_of(path: str) -> tuple[str, ...]:
    """The query parameters the route at ``path`` (a table path, not a template) takes."""
    return next(r.params for r in ROUTES if r.path == path)
