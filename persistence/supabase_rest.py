"""The Supabase REST backend: supabase-py (PostgREST) when only the URL and a key are known.

It is a :class:`persistence.store.Store` (the recorder can write through it) and a
:class:`persistence.records.Records` (the integration design's service calls). Lifecycle batches go
to ``agentq_record_batch()`` (revisions 0006, 0007) as an RPC, because an upsert cannot say
"only if newer"; everything else is plain PostgREST: upserts by natural key
(``on_conflict`` + ``Prefer: resolution=merge-duplicates``), PATCH, GET.

Errors are translated here only: network errors, timeouts, 5xx and connection-class
SQLSTATEs become :class:`DatabaseUnavailable` (try again later), anything else
:class:`DataRejected`. The client's own retry of GETs is off: the mirror decides about
retries. The key is never part of a repr, a log line or an error.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from postgrest.exceptions import APIError
from postgrest.types import ReturnMethod

from persistence import mirror_effects as fx
from persistence import records as r
from persistence.errors import DatabaseUnavailable, DataRejected
from persistence.schema import agent_executions, agent_instances
from persistence.store import RecordResult, WireRecording, agent_id

# PostgREST's own "cannot reach the database" codes, and SQLSTATE classes that mean
# "not now" (connection, resources, operator intervention, serialization / deadlock).
_UNAVAILABLE_CODE = re.compile(r"^(PGRST00[0-3]|5\d\d|08\w{3}|53\w{3}|57\w{3}|40001|40P01)$")
# Keys per DELETE: an in.(…) list of 100 UUIDs keeps the URL under 4 KB.
_IN_CHUNK = 100


class SupabaseRestStore(WireRecording):
    """Lifecycle storage and record calls through Supabase's REST API.

    Parameters
    ----------
    url, key:
        ``SUPABASE_URL`` and the service-role key (the anon key can only read what
        Row Level Security lets it).
    timeout:
        Seconds per HTTP request (``SUPABASE_CONNECTION_TIMEOUT``); supabase-py's
        default is 120 s.
    schema:
        ``SUPABASE_AGENT_SCHEMA``.
    """

    def __init__(self, url: str, key: str, *, timeout: float = 30.0, schema: str = "public"):
        self.url = url.rstrip("/")
        self._key = key
        self._timeout = timeout
        self._schema = schema
        self._client: Any = None
        self._pid = 0

    def __repr__(self) -> str:
        return f"SupabaseRestStore({self.url!r})"

    # --- the client ------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """One supabase-py client per process, created on first use (after fork)."""
        if self._client is None or self._pid != os.getpid():
            from supabase import ClientOptions, create_client

            options = ClientOptions(
                schema=self._schema,
                postgrest_client_timeout=self._timeout,
                postgrest_client_retry=False,
                auto_refresh_token=False,
                persist_session=False,
            )
            self._client = create_client(self.url, self._key, options)
            self._pid = os.getpid()
        return self._client

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):
                self._client.postgrest.session.close()
        self._client = None

    def _table(self, name: str) -> Any:
        return self.client.table(name)

    # --- the Store protocol ----------------------------------------------------------
    def record_wire(self, batch: bytes) -> RecordResult:
        """Record a JSON list of wire events with ``rpc/agentq_record_batch``."""
        events = orjson.loads(batch)
        with _translate():
            data = self.client.rpc("agentq_record_batch", {"batch": events}).execute().data
        row = data[0] if isinstance(data, list) else data
        return RecordResult(
            int(row["received"]), int(row["new_events"]), int(row["inserted"]), int(row["updated"])
        )

    def set_instances_status(
        self,
        worker: str,
        agent_types: Sequence[str],
        status: str,
        at: datetime,
        configuration: dict[str, Any] | None = None,
    ) -> None:
        rows = [
            {
                "agent_id": agent_id(a, worker),
                "agent_type": a,
                "worker": worker,
                "status": status,
                "last_activity": at.isoformat(),
                "last_heartbeat": at.isoformat(),
                "configuration": configuration or {},
                "current_task_id": None,
            }
            for a in sorted(agent_types)
        ]
        with _translate():
            self._table("agent_instances").upsert(
                rows, on_conflict="agent_id", returning=ReturnMethod.minimal
            ).execute()

    def heartbeat(self, worker: str, agent_types: Sequence[str]) -> None:
        ids = [agent_id(a, worker) for a in agent_types]
        now = datetime.now(UTC).isoformat()
        with _translate():
            t = self._table("agent_instances")
            minimal = ReturnMethod.minimal
            t.update({"last_heartbeat": now}, returning=minimal).eq("worker", worker).in_(
                "agent_id", ids
            ).execute()
            # A live worker's heartbeat brings back an instance the reaper marked offline.
            t.update({"status": "idle"}, returning=minimal).eq("worker", worker).in_(
                "agent_id", ids
            ).eq("status", "offline").execute()

    def get_execution(self, task_id: str) -> dict[str, Any] | None:
        row = self.get_task_execution(task_id)
        if row is None:
            return None
        with _translate():
            history = (
                self._table("agent_execution_events")
                .select("status,attempt,occurred_at,worker,detail")
                .eq("task_id", task_id)
                .order("occurred_at")
                .order("id")
                .execute()
                .data
            )
        return {**row, "history": history}

    # --- the Records protocol --------------------------------------------------------
    def create_agent_instance(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return self._upsert("agent_instances", r.instance_row(data), "agent_id")

    def update_agent_instance(self, agent_id: str, updates: Mapping[str, Any]) -> dict[str, Any]:
        row = {**r.updates_for(agent_instances, updates), "updated_at": _now()}
        return self._patch("agent_instances", "agent_id", agent_id, row)

    def get_agent_instance(self, agent_id: str) -> dict[str, Any] | None:
        return self._one("agent_instances", "agent_id", agent_id)

    def get_all_agent_instances(self) -> list[dict[str, Any]]:
        with _translate():
            q = self._table("agent_instances").select("*")
            return list(q.order("created_at", desc=True).order("agent_id").execute().data)

    def create_task_execution(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return self._upsert("agent_executions", r.execution_row(data), "task_id")

    def update_task_execution(
        self,
        task_id: str,
        updates: Mapping[str, Any],
        *,
        event_id: str | uuid.UUID | None = None,
        at: str | datetime | None = None,
    ) -> dict[str, Any]:
        """As :meth:`persistence.sql_records.SQLRecords.update_task_execution`: a status
        is a transition through ``rpc/agentq_record_batch``, the rest a PATCH."""
        row = r.updates_for(agent_executions, updates)
        if "status" in row:
            current = self.get_task_execution(task_id)
            if current is None:
                return {}
            transition, row = r.status_change(current, row, event_id=event_id, at=at)
            self.record([transition])
            if not row:
                return self.get_task_execution(task_id) or {}
        return self._patch("agent_executions", "task_id", task_id, {**row, "updated_at": _now()})

    def get_task_execution(self, task_id: str) -> dict[str, Any] | None:
        return self._one("agent_executions", "task_id", task_id)

    def get_agent_task_history(self, agent_id: str, limit: int = 100) -> list[dict[str, Any]]:
        instance = self.get_agent_instance(agent_id)
        if instance is None:
            return []
        with _translate():
            q = self._table("agent_executions").select("*").eq("agent_instance_id", instance["id"])
            q = q.order("created_at", desc=True).order("task_id").limit(limit)
            return list(q.execute().data)

    def store_agent_metrics(self, data: Mapping[str, Any]) -> dict[str, Any]:
        row = r.jsonable(r.metrics_row(data))
        name = row.pop("agent_id", None)
        if name is not None and row.get("agent_instance_id") is None:
            instance = self.get_agent_instance(name)
            if instance is None:
                raise ValueError(f"unknown agent_id {name!r}")
            row["agent_instance_id"] = instance["id"]
            row.setdefault("agent_type", instance["agent_type"])
        if "agent_type" not in row:
            raise ValueError("metrics need agent_type (or an instance)")
        if row.get("agent_instance_id") is not None:
            return self._upsert("agent_metrics", row, "agent_instance_id,period_start")
        # Per-type rows are unique by a partial index, which on_conflict cannot name.
        with _translate():
            found = (
                self._table("agent_metrics")
                .select("id")
                .eq("agent_type", row["agent_type"])
                .eq("period_start", row["period_start"])
                .eq("period_duration_minutes", row["period_duration_minutes"])
                .is_("agent_instance_id", "null")
                .execute()
                .data
            )
        if found:
            return self._patch("agent_metrics", "id", found[0]["id"], row)
        with _translate():
            return dict(self._table("agent_metrics").insert(row).execute().data[0])

    def get_agent_metrics(self, agent_id: str | None, hours: float = 24) -> list[dict[str, Any]]:
        since = (datetime.now(UTC) - timedelta(hours=hours)).isoformat()
        instances = {i["id"]: i["agent_id"] for i in self.get_all_agent_instances()}
        with _translate():
            q = self._table("agent_metrics").select("*").gt("period_end", since)
            if agent_id is not None:
                ids = [k for k, v in instances.items() if v == agent_id]
                if not ids:
                    return []
                q = q.eq("agent_instance_id", ids[0])
            rows = q.order("period_start", desc=True).order("agent_type").execute().data
        out = [{"agent_id": instances.get(m.get("agent_instance_id")), **m} for m in rows]
        # The SQL backend's order: per period, per type, per-type rows first.
        out.sort(key=lambda m: (m["agent_id"] is not None, m["agent_id"] or ""))
        out.sort(key=lambda m: m["agent_type"])
        out.sort(key=lambda m: m["period_start"], reverse=True)
        return out

    def store_system_health(self, data: Mapping[str, Any]) -> dict[str, Any]:
        from persistence.health import HEALTH_SCORE

        row = r.jsonable(r.health_row(data))
        row.setdefault("status", "unhealthy")
        row.setdefault("overall_health_score", HEALTH_SCORE.get(row["status"], 0.0))
        if row.get("timestamp") is None:
            row.pop("timestamp", None)
        with _translate():
            return dict(self._table("system_health").insert(row).execute().data[0])

    # --- beat's effects, applied as a mirror (persistence/mirror_effects.py) --------------
    def put_agent_metrics(self, rows: Sequence[Mapping[str, Any]]) -> None:
        names, bare = fx.split_metrics(rows)
        with _translate():
            found = self._table("agent_instances").select("id,agent_id").in_("agent_id", names)
            ids = {i["agent_id"]: i["id"] for i in (found.execute().data if names else [])}
        missing = sorted(set(names) - set(ids))
        if missing:
            raise DataRejected(f"the mirror has no agent instance {', '.join(missing)}")
        named = [(b, m.get("agent_id")) for b, m in zip(bare, rows, strict=True)]
        per_instance = [{**b, "agent_instance_id": ids[n]} for b, n in named if n is not None]
        per_type = [{**b, "agent_instance_id": None} for b, n in named if n is None]
        minimal = ReturnMethod.minimal
        with _translate():
            t = self._table("agent_metrics")
            if per_instance:
                key = "agent_instance_id,period_start"
                t.upsert(per_instance, on_conflict=key, returning=minimal).execute()
            if per_type:
                self._adopt_type_ids(per_type)
                # (id, period_start): the primary key since 0012 (partitioned).
                t.upsert(per_type, on_conflict="id,period_start", returning=minimal).execute()

    def _adopt_type_ids(self, rows: list[dict[str, Any]]) -> None:
        """Per-type rows are unique by a partial index, which on_conflict cannot name: a
        mirror row of the same key under another id takes the primary's id first."""
        starts = [datetime.fromisoformat(m["period_start"]) for m in rows]
        have = (
            self._table("agent_metrics")
            .select("id,agent_type,period_start,period_duration_minutes")
            .is_("agent_instance_id", "null")
            .gte("period_start", min(starts).isoformat())
            .lte("period_start", max(starts).isoformat())
            .execute()
            .data
        )
        mine = {_type_key(m): m["id"] for m in have}
        for m in rows:
            old = mine.get(_type_key(m))
            if old is not None and old != m["id"]:
                self._table("agent_metrics").update({"id": m["id"]}).eq("id", old).execute()

    def put_system_health(self, rows: Sequence[Mapping[str, Any]]) -> None:
        with _translate():
            self._table("system_health").upsert(
                [dict(h) for h in rows],
                on_conflict="id,timestamp",  # the primary key since 0012 (partitioned)
                ignore_duplicates=True,
                returning=ReturnMethod.minimal,
            ).execute()

    def mark_instances_offline(self, agent_ids: Sequence[str]) -> None:
        with _translate():
            self._table("agent_instances").update(
                {"status": "offline", "current_task_id": None}, returning=ReturnMethod.minimal
            ).in_("agent_id", list(agent_ids)).neq("status", "offline").neq(
                "status", "maintenance"
            ).execute()

    def delete_rows(self, table: str, keys: Sequence[str]) -> None:
        _, key = fx.purge_key(table)
        with _translate():
            for i in range(0, len(keys), _IN_CHUNK):
                chunk = list(keys[i : i + _IN_CHUNK])
                self._table(table).delete(returning=ReturnMethod.minimal).in_(key, chunk).execute()

    def ping(self) -> float:
        start = time.perf_counter()
        with _translate():
            self._table("agent_instances").select("id").limit(1).execute()
        return (time.perf_counter() - start) * 1000

    # --- helpers ---------------------------------------------------------------------
    def _one(self, table: str, key: str, value: str) -> dict[str, Any] | None:
        with _translate():
            rows = self._table(table).select("*").eq(key, value).limit(1).execute().data
        return dict(rows[0]) if rows else None

    def _upsert(self, table: str, row: dict[str, Any], key: str) -> dict[str, Any]:
        with _translate():
            data = self._table(table).upsert(r.jsonable(row), on_conflict=key).execute().data
        return dict(data[0])

    def _patch(self, table: str, key: str, value: str, row: dict[str, Any]) -> dict[str, Any]:
        with _translate():
            data = self._table(table).update(r.jsonable(row)).eq(key, value).execute().data
        return dict(data[0]) if data else {}


def _type_key(m: Mapping[str, Any]) -> tuple[str, datetime, int]:
    start = datetime.fromisoformat(str(m["period_start"]))
    return (str(m["agent_type"]), start, int(m["period_duration_minutes"]))


def _now() -> str:
    return datetime.now(UTC).isoformat()


@contextlib.contextmanager
def _translate() -> Iterator[None]:
    """supabase-py / httpx errors as the persistence errors (one place)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise DatabaseUnavailable(f"Supabase timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise DatabaseUnavailable(f"Supabase unreachable: {_first(exc)}") from exc
    except APIError as exc:
        code = str(exc.code or "")
        message = f"Supabase error {code}: {_first(exc.message or exc.details or '')}"
        if _UNAVAILABLE_CODE.match(code):
            raise DatabaseUnavailable(message) from exc
        raise DataRejected(message) from exc


def _first(value: object) -> str:
    return (str(value).strip().splitlines() or [""])[0][:300]
