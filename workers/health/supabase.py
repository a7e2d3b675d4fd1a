"""The integration design's Supabase health report (``GET /api/v1/health/supabase`` of
``agentq serve``).

It checks the database the records go to (Supabase's PostgreSQL, or any PostgreSQL),
Supabase's REST API when it is configured, Row Level Security on the integration design's tables and
the mirror's outbox, and never raises.

Shape: the integration design's ``status``, ``response_time_ms``, ``tables_accessible`` (per seed
table) and ``realtime_enabled``, plus ``rls_enabled`` (per table), ``mirror_backlog``,
``database`` and ``api`` (each ``ok`` with latency or error), ``supabase_enabled``
(false with ``ENABLE_SUPABASE_INTEGRATION=false``: ``api`` then says "disabled", the
database checked is ``DATABASE_URL``, nothing of Supabase is contacted), ``reasons`` and
``timestamp``. URLs are redacted and errors stripped of any secret.

Verdict and HTTP status (``STATUS_CODES``):

* **unhealthy** (503) — the database cannot be reached or a seed table is not readable;
* **degraded** (200) — the REST API is configured but does not answer, the database
  takes more than 1 s, or RLS is expected (``SUPABASE_ENABLE_RLS``) but off on a table;
* **healthy** (200) — otherwise.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from persistence.formatting import one_line
from persistence.sql_store import SQLStore
from workers.health.checks import _secrets, check_database, check_supabase
from workers.health.report import design_shape
from workers.health.verdict import DEGRADED, HEALTHY, SLOW_MS, UNHEALTHY

if TYPE_CHECKING:
    from workers.settings import Settings

STATUS_CODES = {HEALTHY: 200, DEGRADED: 200, UNHEALTHY: 503}


def _rls_tables() -> tuple[str, ...]:
    from persistence.schema import metadata

    return tuple(metadata.tables)


def supabase_health(settings: Settings, store: SQLStore) -> dict[str, Any]:
    """The report (see the module docstring); ``STATUS_CODES[report["status"]]`` is
    the HTTP status to answer with."""
    start = time.perf_counter()
    db = check_database(store, settings)
    secrets = _secrets(settings.database_url.get_secret_value())
    rls: dict[str, bool] = {}
    backlog: int | None = None
    if db.get("ok"):
        rls, backlog, problem = _rls_and_backlog(store, secrets)
        if problem:
            db["error"] = problem
    api = check_supabase(settings)
    status, reasons = _verdict(db, api, rls, bool(settings.supabase_enable_rls))
    return {
        **design_shape(status, start, db),
        "supabase_enabled": bool(getattr(settings, "supabase_enabled", True)),
        "rls_enabled": rls,
        "mirror_backlog": backlog,
        "database": {k: db[k] for k in ("ok", "url", "latency_ms", "error") if k in db},
        "api": api,
        "reasons": reasons,
        "timestamp": datetime.now(UTC).isoformat(),
    }


def _rls_and_backlog(
    store: SQLStore, secrets: tuple[str, ...]
) -> tuple[dict[str, bool], int | None, str | None]:
    from persistence.observability import mirror_backlog, rls_enabled

    try:
        return rls_enabled(store, _rls_tables()), mirror_backlog(store), None
    except Exception as exc:
        return {}, None, one_line(exc, secrets=secrets)


def _verdict(
    db: dict[str, Any], api: dict[str, Any], rls: dict[str, bool], rls_expected: bool
) -> tuple[str, list[str]]:
    bad: list[str] = []
    warn: list[str] = []
    if not db.get("ok"):
        bad.append(f"database unreachable: {db.get('error')}")
    missing = [t for t, ok in (db.get("tables_accessible") or {}).items() if not ok]
    if missing:
        bad.append("tables not accessible: " + ", ".join(missing))
    if api.get("configured") and not api.get("ok"):
        warn.append(f"supabase api unreachable: {api.get('error')}")
    ms = db.get("latency_ms")
    if ms is not None and ms > SLOW_MS:
        warn.append(f"database slow: {ms:.0f} ms")
    off = [t for t, on in rls.items() if not on]
    if rls_expected and off:
        warn.append("row level security off on: " + ", ".join(off))
    if db.get("ok") and db.get("error"):
        warn.append(f"database check failed: {db['error']}")
    status = UNHEALTHY if bad else DEGRADED if warn else HEALTHY
    return status, bad + warn
