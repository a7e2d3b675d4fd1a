"""``agentq demo --page``: the live operations page next to the demo.

The demo then also runs ``agentq serve`` on 127.0.0.1 (and ``agentq realtime`` when
``PUSHER_*`` is configured, so the page gets events; without it the page polls), and
prints the page's address with a ``#token=`` fragment: a development token for a user of
this run. Without ``SUPABASE_JWT_SECRET`` a secret is made for the run and given to the
child processes, so the token works against this demo's server only.
"""

from __future__ import annotations

import os
import secrets
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from workers.settings import get_settings

TOKEN_TTL_S = 12 * 3600


@dataclass(frozen=True)
class PagePlan:
    port: int
    user: str  # the token's subject
    secret_made: bool  # SUPABASE_JWT_SECRET was made for this run
    realtime: bool  # Pusher is configured: the bridge runs too

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def pusher_configured(settings: Any) -> bool:
    from workers.realtime.config import RealtimeConfig
    from workers.settings import SettingsError

    try:
        RealtimeConfig.from_settings(settings)
    except SettingsError:
        return False
    return True


def plan_page(port: int) -> PagePlan:
    """Decide what runs; sets ``SUPABASE_JWT_SECRET`` for this run when it is unset (the
    children inherit the environment)."""
    made = not os.environ.get("SUPABASE_JWT_SECRET")
    if made:
        os.environ["SUPABASE_JWT_SECRET"] = secrets.token_urlsafe(48)
        get_settings.cache_clear()
    return PagePlan(port, str(uuid.uuid4()), made, pusher_configured(get_settings()))


def commands(plan: PagePlan) -> list[tuple[str, list[str]]]:
    """(name, argv) of the processes the page needs."""
    agentq = [sys.executable, "-m", "workers.cli"]
    out = [("serve", [*agentq, "serve", "--host", "127.0.0.1", "--port", str(plan.port)])]
    if plan.realtime:
        out.append(("realtime", [*agentq, "realtime"]))
    return out


def page_url(plan: PagePlan) -> str:
    """The page's address with a development token for ``plan.user`` in the fragment
    (a fragment never reaches a server or a log; the page moves it to sessionStorage)."""
    from workers.serve.auth import make_token

    token = make_token(get_settings(), "authenticated", plan.user, token_ttl_s())
    return f"{plan.base_url}#token={token}"


def token_ttl_s() -> int:
    """12 h, or less when the server accepts only shorter tokens."""
    return min(TOKEN_TTL_S, get_settings().api_max_token_lifetime_seconds)


def describe(plan: PagePlan) -> str:
    live = "live over Pusher (agentq realtime runs)" if plan.realtime else "polling (no PUSHER_*)"
    secret = "signed with a secret made for this run" if plan.secret_made else "SUPABASE_JWT_SECRET"
    valid = f"valid {token_ttl_s() / 3600:g} h"
    return f"Live page ({live}; token for user {plan.user}, {secret}, {valid}):"
