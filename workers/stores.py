"""The one place a process's stores are built: which databases the settings name, and
the stores that read and write them.

* :func:`get_store` — the process's shared SQL store of the primary (producer reads,
  beat, the service API); created on first use.
* :func:`sql_store` — a short-lived store of the primary for one command or one server
  (its own small pool and connect timeout).
* :func:`build_store` — what a recorder writes: the primary, mirrored when a mirror is
  configured; :func:`get_mirror` — the process's mirror (beat's outbox replay).
* :func:`get_migration_service` — migrations of the primary (and, for ``sync_schemas``,
  of a SQL mirror), or of the mirror itself.

=====================================================  ======================  =====================
configured                                             primary                 mirror
=====================================================  ======================  =====================
nothing, or ``DATABASE_URL``                           ``DATABASE_URL``        —
``SUPABASE_DB_HOST`` … (``get_supabase_database_url``)  Supabase's database     —
``SUPABASE_URL`` + ``SUPABASE_SERVICE_ROLE_KEY``       Supabase REST           —
``DATABASE_URL`` + ``SUPABASE_DB_HOST`` …              ``DATABASE_URL``        Supabase's database
``DATABASE_URL`` + ``SUPABASE_URL`` + key              ``DATABASE_URL``        Supabase REST
=====================================================  ======================  =====================

The direct database wins over REST when both are given. ``ENABLE_SUPABASE_INTEGRATION=false``
makes every row the first one (``DATABASE_URL`` only, whatever ``SUPABASE_*`` say): no
Supabase connection is made. With Supabase as the only
database and it down, the recorder's durable buffering applies as for any primary:
the REST store raises ``DatabaseUnavailable`` and the stream keeps the transitions.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url

from persistence.migration_service import MigrationService
from persistence.mirror import Mirror, MirroredStore, MirrorGuard
from persistence.sql_records import SQLRecords
from persistence.sql_store import SQLStore
from persistence.supabase_rest import SupabaseRestStore
from workers.settings import (
    Settings,
    SettingsError,
    get_settings,
    redact_url,
    to_sqlalchemy_url,
)

SQL, REST = "sql", "rest"
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DatabasePlan:
    primary: str  # sql | rest
    mirror: str | None  # sql | rest | None

    def describe(self) -> str:
        if self.mirror is None:
            return f"{self.primary} only"
        return f"dual: {self.primary} primary, supabase {self.mirror} mirror"


def plan(settings: Settings) -> DatabasePlan:
    if not settings.supabase_enabled:
        return DatabasePlan(SQL, None)
    fields = settings.model_fields_set
    supabase = SQL if "supabase_db_host" in fields else REST if _rest_key(settings) else None
    if "database_url" in fields and supabase is not None:
        return DatabasePlan(SQL, supabase)
    return DatabasePlan(REST if supabase == REST else SQL, None)


def _rest_key(settings: Settings) -> str | None:
    if not settings.supabase_url:
        return None
    key = settings.supabase_service_role_key or settings.supabase_anon_key
    return key.get_secret_value() if key is not None else None


def _refuse_if_disabled(settings: Settings) -> None:
    if settings.enable_supabase_integration is False:
        raise SettingsError("Supabase is disabled (ENABLE_SUPABASE_INTEGRATION=false)")


def rest_store(settings: Settings) -> SupabaseRestStore:
    _refuse_if_disabled(settings)
    key = _rest_key(settings)
    if key is None or not settings.supabase_url:
        raise ValueError("SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are needed for REST")
    return SupabaseRestStore(
        settings.supabase_url,
        key,
        timeout=settings.supabase_connection_timeout,
        schema=settings.supabase_agent_schema,
    )


def session_url(settings: Settings, url: str, **options: str) -> str:
    """``url`` (SQLAlchemy spelling) with server settings for each session it opens: the
    given ones, and ``agentq.realtime=off`` when ``SUPABASE_ENABLE_REALTIME`` is false
    (the change-feed triggers and the recorder then send nothing; revision 0009)."""
    if not settings.supabase_enable_realtime:
        options = {**options, "agentq.realtime": "off"}
    if not options:
        return url
    parsed = make_url(url)
    given = parsed.query.get("options")
    given = given if isinstance(given, str) else " ".join(given or ())
    extra = " ".join(f"-c {k}={v}" for k, v in options.items())
    merged = f"{given} {extra}".strip()
    return parsed.update_query_dict({"options": merged}).render_as_string(hide_password=False)


def supabase_sql_store(settings: Settings, pool_size: int = 2) -> SQLStore:
    """Supabase's own database, every statement bounded by the connection timeout."""
    _refuse_if_disabled(settings)
    ms = int(settings.supabase_connection_timeout * 1000)
    url = session_url(
        settings,
        to_sqlalchemy_url(settings.get_supabase_database_url()),
        statement_timeout=str(ms),
    )
    return SQLStore(
        url,
        pool_size=pool_size,
        connect_timeout=settings.supabase_connection_timeout,
    )


def mirror_guard(settings: Settings) -> MirrorGuard:
    return MirrorGuard(
        max_retries=settings.supabase_max_retries,
        retry_delay=settings.supabase_retry_delay,
        max_delay=max(settings.supabase_retry_delay, settings.supabase_connection_timeout),
        breaker_failures=settings.mirror_breaker_failures,
        breaker_reset=settings.mirror_breaker_reset_seconds,
    )


def build_mirror(settings: Settings, primary: SQLStore) -> Mirror | None:
    """The mirror of ``primary`` the settings name, or None."""
    kind = plan(settings).mirror
    if kind is None:
        return None
    target: Any = supabase_sql_store(settings) if kind == SQL else rest_store(settings)
    records = SQLRecords(target) if kind == SQL else target
    return Mirror(target, records, primary, mirror_guard(settings))


def build_store(settings: Settings, *, pool_size: int = 2) -> Any:
    """The store a recorder writes: the primary, mirrored when a mirror is configured."""
    p = plan(settings)
    logger.debug("databases: %s", describe(settings))
    if p.primary == REST:
        return rest_store(settings)
    primary = SQLStore(session_url(settings, settings.sqlalchemy_url), pool_size=pool_size)
    mirror = build_mirror(settings, primary)
    return primary if mirror is None else MirroredStore(primary, mirror)


@functools.lru_cache(maxsize=1)
def get_store() -> SQLStore:
    """The process's SQL store of the primary (created on first use; its engine is
    rebuilt in a forked child before use, see ``SQLStore``)."""
    settings = get_settings()
    return SQLStore(session_url(settings, settings.sqlalchemy_url), pool_size=settings.db_pool_size)


def sql_store(settings: Settings, *, pool_size: int = 1, connect_timeout: float = 3) -> SQLStore:
    """A store of the primary for one command or one server; the caller closes it."""
    return SQLStore(
        session_url(settings, settings.sqlalchemy_url),
        pool_size=pool_size,
        connect_timeout=connect_timeout,
    )


@functools.lru_cache(maxsize=1)
def get_mirror() -> Mirror | None:
    """The process's mirror of the process's primary store (beat's replay, the service)."""
    return build_mirror(get_settings(), get_store())


REST_NEEDS_SQL = (
    "the Supabase {role} is configured for REST only (SUPABASE_URL + key): schema "
    "migrations and schema sync need SQL access to its database: set SUPABASE_DB_HOST, "
    "SUPABASE_DB_PASS … (or apply supabase/migrations with the Supabase CLI)"
)


def get_migration_service(
    settings: Settings | None = None, *, mirror: bool = False
) -> MigrationService:
    """Migrations of the primary database, knowing its SQL mirror (``sync_schemas``
    compares the two and can bring the mirror up); ``mirror=True``: of the mirror's
    database itself. :class:`SettingsError` when the database asked for has no SQL
    access (REST only) or no mirror is configured."""
    settings = settings or get_settings()
    p = plan(settings)
    rls = settings.supabase_enable_rls
    mirror_url = (
        to_sqlalchemy_url(settings.get_supabase_database_url()) if p.mirror == SQL else None
    )
    if mirror:
        if p.mirror is None:
            raise SettingsError(
                "no Supabase mirror is configured (DATABASE_URL and SUPABASE_DB_HOST … name one)"
            )
        if mirror_url is None:
            raise SettingsError(REST_NEEDS_SQL.format(role="mirror"))
        return MigrationService(mirror_url, enable_rls=rls)
    if p.primary == REST:
        raise SettingsError(REST_NEEDS_SQL.format(role="primary"))
    return MigrationService(settings.sqlalchemy_url, enable_rls=rls, mirror_url=mirror_url)


def describe(settings: Settings) -> dict[str, Any]:
    """The plan for health output: kinds and redacted addresses, never a secret."""
    p = plan(settings)
    out: dict[str, Any] = {"mode": p.describe(), "primary": p.primary, "mirror": p.mirror}
    out["supabase"] = supabase_state(settings)
    if p.primary == SQL:
        out["primary_url"] = redact_url(settings.primary_database_url)
    if SQL in (p.mirror,):
        out["mirror_url"] = redact_url(settings.get_supabase_database_url())
    if REST in (p.primary, p.mirror):
        out["supabase_url"] = settings.supabase_url
    return out


def supabase_state(settings: Settings) -> str:
    """``disabled`` (``ENABLE_SUPABASE_INTEGRATION=false``), ``enabled`` or ``not configured``."""
    if settings.enable_supabase_integration is False:
        return "disabled (ENABLE_SUPABASE_INTEGRATION=false)"
    return "enabled" if settings.supabase_enabled else "not configured"
