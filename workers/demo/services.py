"""Which PostgreSQL and Redis the demo uses, and checking them before anything waits on them.

With ``DATABASE_URL`` / ``CELERY_BROKER_URL`` set: those. Unset, and ``agentq up``'s
servers running: those (the demo neither starts nor stops them). Otherwise the demo starts
embedded ones (``workers.demo.embedded``) in the state directory; with ``--keep`` it
records them there (``workers.local.state``) and leaves them running for ``agentq status``,
``agentq enqueue``, ``agentq up --worker --page`` … until ``agentq down``.
"""

from __future__ import annotations

import os
from typing import Any

from workers import stores
from workers.demo.embedded import start_embedded
from workers.local.state import Proc, State, database_configured
from workers.settings import get_settings, redact_url


class DemoError(RuntimeError):
    """A demo process died or a service failed; the message names it and its log."""


def start_services(run: Any, keep: bool) -> None:
    """Point the environment at the demo's servers; fills ``run.info``."""
    embed_pg = not database_configured()
    embed_redis = not os.environ.get("CELERY_BROKER_URL")
    state = State.load()
    reused = (embed_pg or embed_redis) and state.servers_up()
    if reused:
        os.environ.setdefault("DATABASE_URL", state.database_url)
        os.environ.setdefault("CELERY_BROKER_URL", state.broker_url)
        forget_cached_settings()
    elif embed_pg or embed_redis:
        keep = keep and embed_pg and embed_redis  # only a whole pair is handed to `down`
        what = " and ".join(n for n, e in (("PostgreSQL", embed_pg), ("Redis", embed_redis)) if e)
        with run.console.status(f"starting embedded {what} under {state.root}…"):
            run.services = start_embedded(
                state.root, postgres=embed_pg, redis=embed_redis, detached=keep
            )
        if run.services.database_url:
            os.environ["DATABASE_URL"] = run.services.database_url
        if run.services.broker_url:
            os.environ["CELERY_BROKER_URL"] = run.services.broker_url
        forget_cached_settings()
        if keep:
            _record(state, run.services)
    settings = get_settings()
    run.info = {
        "embedded_postgres": embed_pg,
        "embedded_redis": embed_redis,
        "kept": bool(keep or reused),
        "database": redact_url(settings.database_url.get_secret_value()),
        "broker": redact_url(settings.broker_url),
        "data_dir": str(run.data_dir),
        "state_dir": str(state.root),
    }
    origin = " (embedded, from agentq up)" if reused else " (embedded)"
    run.console.print(
        f"database {run.info['database']}{origin if embed_pg else ''}\n"
        f"broker   {run.info['broker']}{origin if embed_redis else ''}",
        highlight=False,
    )


def _record(state: State, services: Any) -> None:
    """Hand the servers to ``agentq down``: the demo no longer stops them."""
    state.database_url, state.broker_url = services.database_url, services.broker_url
    state.procs = {name: Proc.of(pid) for name, pid in services.pids.items()}
    state.save()
    services.disown()


def check_broker_now() -> None:
    """Raise ``DemoError`` naming the broker when it does not answer within seconds
    (else the worker's "ready" never comes and the wait blamed the worker)."""
    from workers.health.checks import check_broker

    result = check_broker(get_settings().broker_url)
    if not result["ok"]:
        raise DemoError(
            f"broker {result['url']} unreachable: {result['error']}"
            " (start it, or unset CELERY_BROKER_URL to use an embedded Redis)"
        )


def forget_cached_settings() -> None:
    from workers.recording import signals

    get_settings.cache_clear()
    stores.get_store.cache_clear()
    signals.reset()
