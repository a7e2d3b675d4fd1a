"""The integration design's ``SupabaseService``, on the databases the settings name
(``workers/stores.py``).

    from workers.supabase_service import get_supabase_service
    svc = get_supabase_service()
    svc.create_agent_instance({"agent_id": "quiz_generator@w1", "agent_type": "quiz_generator"})
    svc.get_agent_metrics("quiz_generator@w1", hours=24)

Same method names and shapes as the seed (dicts in, dicts / lists of dicts out, JSON
values as PostgREST returns them), but synchronous: Celery workers are. The backend
is the direct database (SQL), Supabase's REST API (supabase-py), or both (dual: the
primary is written first, Supabase is mirrored, the outbox keeps what it missed).
``create_*`` are upserts by ``agent_id`` / ``task_id``, so calling them twice is safe.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from persistence.formatting import one_line
from persistence.records import Records

if TYPE_CHECKING:
    from persistence.mirror import Mirror
    from workers.settings import Settings


class SupabaseUnavailable(Exception):
    """Raised when no Supabase (or database) backend is configured."""


class SupabaseService:
    """The integration design's service calls on one
    :class:`persistence.records.Records` backend."""

    def __init__(self, records: Records | None, *, info: dict[str, Any] | None = None) -> None:
        self._records = records
        self.info = info or {}

    def __repr__(self) -> str:
        return f"SupabaseService({self.info.get('mode', 'unavailable')})"

    def is_available(self) -> bool:
        """True when a backend is configured (not whether it answers: see health_check)."""
        return self._records is not None

    @property
    def records(self) -> Records:
        if self._records is None:
            raise SupabaseUnavailable("Supabase is not available or configured")
        return self._records

    # --- agent instances ------------------------------------------------------------
    def create_agent_instance(self, agent_data: Mapping[str, Any]) -> dict[str, Any]:
        return self.records.create_agent_instance(agent_data)

    def update_agent_instance(self, agent_id: str, updates: Mapping[str, Any]) -> dict[str, Any]:
        """The updated row; ``{}`` when there is no such instance."""
        return self.records.update_agent_instance(agent_id, updates)

    def get_agent_instance(self, agent_id: str) -> dict[str, Any] | None:
        return self.records.get_agent_instance(agent_id)

    def get_all_agent_instances(self) -> list[dict[str, Any]]:
        return self.records.get_all_agent_instances()

    # --- executions -----------------------------------------------------------------
    def create_task_execution(self, task_data: Mapping[str, Any]) -> dict[str, Any]:
        return self.records.create_task_execution(task_data)

    def update_task_execution(self, task_id: str, updates: Mapping[str, Any]) -> dict[str, Any]:
        """The updated row; ``{}`` when there is no such execution. A ``status`` goes
        through the lifecycle merge as a transition of its own (it never moves the row
        backward and lands in the history); the other columns are a plain update."""
        return self.records.update_task_execution(task_id, updates)

    def get_task_execution(self, task_id: str) -> dict[str, Any] | None:
        return self.records.get_task_execution(task_id)

    def get_agent_task_history(self, agent_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Executions of the instance ``agent_id``, newest first."""
        return self.records.get_agent_task_history(agent_id, limit)

    # --- metrics and health ---------------------------------------------------------
    def store_agent_metrics(self, metrics_data: Mapping[str, Any]) -> dict[str, Any]:
        """Upsert one ``agent_metrics`` row (by instance or per type, and period start)."""
        return self.records.store_agent_metrics(metrics_data)

    def get_agent_metrics(self, agent_id: str | None, hours: float = 24) -> list[dict[str, Any]]:
        """Rows whose period ended in the last ``hours``, newest first (None: every row)."""
        return self.records.get_agent_metrics(agent_id, hours)

    def store_system_health(self, health_data: Mapping[str, Any]) -> dict[str, Any]:
        return self.records.store_system_health(health_data)

    def health_check(self) -> dict[str, Any]:
        """The integration design's shape (healthy, url, timestamp, response_time_ms,
        error) plus the backend and, in dual mode, the mirror (breaker, outbox). Never
        raises; no secret."""
        now = datetime.now(UTC).isoformat()
        out: dict[str, Any] = {**self.info, "timestamp": now}
        if self._records is None:
            return {**out, "healthy": False, "error": "Supabase not configured or available"}
        start = time.perf_counter()
        try:
            self._records.ping()
            out.update(healthy=True, response_time_ms=round((time.perf_counter() - start) * 1e3, 2))
        except Exception as exc:
            out.update(healthy=False, error=one_line(exc))
        mirror = getattr(self._records, "mirror", None)
        if mirror is not None:
            out["mirror"] = mirror_status(mirror)
        return out


def mirror_status(mirror: Any) -> dict[str, Any]:
    """The mirror's breaker state (this process's) and the outbox; never raises."""
    from persistence import outbox

    out: dict[str, Any] = {"breaker": mirror.guard.state}
    try:
        out.update(outbox.stats(mirror.primary), ok=True)
    except Exception as exc:
        out.update(ok=False, error=one_line(exc))
    return out


def build_service(settings: Settings, mirror: Mirror | None = None) -> SupabaseService:
    """The service the settings name; ``mirror`` (dual mode) defaults to a new one."""
    from persistence.mirror import MirroredRecords
    from persistence.sql_records import SQLRecords
    from workers import stores as databases
    from workers.stores import get_store

    p = databases.plan(settings)
    info = databases.describe(settings)
    if p.primary == databases.REST:
        return SupabaseService(databases.rest_store(settings), info=info)
    primary = SQLRecords(get_store())
    mirror = mirror or databases.build_mirror(settings, get_store())
    records: Records = primary if mirror is None else MirroredRecords(primary, mirror)
    return SupabaseService(records, info=info)


@functools.lru_cache(maxsize=1)
def get_supabase_service() -> SupabaseService:
    """The process's service (built on first use, never at import)."""
    from workers.settings import get_settings
    from workers.stores import get_mirror

    return build_service(get_settings(), get_mirror())
