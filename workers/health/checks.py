"""System health: one report of every component, and the verdict.

:func:`health_check` never raises: a component that cannot be reached is reported
with its error (URLs redacted, no secrets) and decides the verdict.

Components:

* ``broker`` — reachable + latency (Redis ``PING``; for AMQP a kombu connection).
* ``database`` — reachable + latency (``SELECT 1``), the integration design's tables readable,
  realtime (tables with a change-feed trigger calling ``pg_notify``; ``realtime_setting``
  false when ``SUPABASE_ENABLE_REALTIME=false`` switches the notifications off).
* ``supabase`` — the REST API answers, when configured; otherwise "not configured", or
  "disabled" with ``ENABLE_SUPABASE_INTEGRATION=false`` (then nothing is contacted).
* ``queues`` — messages waiting per queue. With Redis, kombu keeps one list per
  priority step: the depth is the sum of ``LLEN`` over ``<queue>``, ``<queue>:0`` ..
  ``<queue>:9``. With AMQP, a passive ``queue_declare``.
* ``workers`` — **online** = agent instances that are not offline and whose
  ``last_heartbeat`` is younger than the stale timeout (``AGENTQ_STALE_AGENT_SECONDS``).
  Every worker's recorder writes that heartbeat (``AGENTQ_HEARTBEAT_SECONDS``), so it
  costs nothing to read and works across hosts; ``ping_workers=True`` adds Celery's
  ``inspect().ping`` (a broadcast answered within one second) for comparison. A worker
  records one instance per agent type it consumes, so the agent queues without an online
  instance of their type are the queues no live worker consumes
  (``queues_without_consumer``); ``status`` is unhealthy with none online at all.
* ``executions`` — in the last metrics period: counts by status, error rate
  (failed / (completed + failed), percent), p50 / p95 / mean execution time, and the
  unfinished executions.
* ``recording`` — the stream's backlog (``pending + lag`` of the ``recorders`` group,
  XLEN when the group does not exist yet) and the age of its oldest entry (entries are
  deleted once recorded, so the oldest entry is the oldest unrecorded transition); how
  long ago any recorder last committed a batch (``<stream>:progress``, which every
  recorder sets with each acknowledgement and when it starts), and whether recording is
  **stalled**: entries have waited longer than the ``recording_stall_seconds`` setting
  (``AGENTQ_RECORDING_STALL_SECONDS``, 60) and no batch was committed for as long. Without
  the marker no recorder ever ran on this stream: the backlog then only counts as lag.
  (Times are the hosts' clocks.)

:func:`workers.health.report.health_check` puts them together; the verdict is
``workers/health/verdict.py``. No check raises: a component that cannot be reached is
reported with its error (URLs redacted, no secrets).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from persistence.formatting import one_line
from persistence.sql_store import SQLStore
from workers.broker.dead_letters import MESSAGES_STREAM

if TYPE_CHECKING:
    from workers.settings import Settings

TIMEOUT_S = 2.0
PRIORITY_STEPS = range(10)
RECORDING_STALL_S = 60.0  # default of the recording_stall_seconds setting


def _setting(settings: Any, name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def _secrets(*urls: str) -> tuple[str, ...]:
    out = []
    for url in urls:
        try:
            pw = urlsplit(url).password
        except ValueError:
            continue
        if pw:
            out.append(pw)
    return tuple(out)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, round((time.perf_counter() - start) * 1000, 2)


# --- broker and queues --------------------------------------------------------------
def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://", "redis+socket://"))


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)


def check_broker(url: str) -> dict[str, Any]:
    from workers.settings import redact_url

    out: dict[str, Any] = {"url": redact_url(url)}
    try:
        if _is_redis(url):
            client = _redis(url)
            try:
                _, out["latency_ms"] = _timed(client.ping)
            finally:
                client.close()
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=TIMEOUT_S) as conn:
                _, out["latency_ms"] = _timed(
                    lambda: conn.ensure_connection(max_retries=1, timeout=TIMEOUT_S)
                )
        out["ok"] = True
    except Exception as exc:
        out.update(ok=False, error=one_line(exc, secrets=_secrets(url)))
    return out


def queue_names() -> list[str]:
    from workers.routing import agent_queues

    return [str(q.name) for q in agent_queues()]


def queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps for ``queue``: itself and one per priority step."""
    return [queue, *(f"{queue}:{p}" for p in PRIORITY_STEPS)]


def check_queues(url: str, queues: list[str]) -> dict[str, Any]:
    try:
        depth = _redis_depth(url, queues) if _is_redis(url) else _amqp_depth(url, queues)
    except Exception as exc:
        return {"ok": False, "error": one_line(exc, secrets=_secrets(url))}
    return {"ok": True, "depth": depth, "total": sum(depth.values())}


def _redis_depth(url: str, queues: list[str]) -> dict[str, int]:
    client = _redis(url)
    try:
        pipe = client.pipeline(transaction=False)
        for q in queues:
            for key in queue_keys(q):
                pipe.llen(key)
        counts = pipe.execute()
    finally:
        client.close()
    n = len(PRIORITY_STEPS) + 1
    return {q: int(sum(counts[i * n : (i + 1) * n])) for i, q in enumerate(queues)}


def _amqp_depth(url: str, queues: list[str]) -> dict[str, int]:
    from kombu import Connection

    out: dict[str, int] = {}
    with Connection(url, connect_timeout=TIMEOUT_S) as conn:
        for q in queues:
            try:
                out[q] = int(conn.default_channel.queue_declare(q, passive=True).message_count)
            except Exception:
                out[q] = 0  # not declared yet: nothing waits in it
    return out


# --- recording stream -----------------------------------------------------------------
def check_recording(
    url: str, stream: str, stall_after_s: float = RECORDING_STALL_S
) -> dict[str, Any]:
    from workers.settings import redact_url

    out: dict[str, Any] = {"url": redact_url(url), "stream": stream}
    client = _redis(url)
    try:
        out.update(_recording_state(client, stream), ok=True)
        out.update(_recording_progress(client, stream))
        out["stall_after_seconds"] = stall_after_s
        out["stalled"] = _stalled(out, stall_after_s)
    except Exception as exc:
        out.update(ok=False, error=one_line(exc, secrets=_secrets(url)))
    finally:
        client.close()
    return out


def _recording_state(client: Any, stream: str) -> dict[str, Any]:
    from workers.recording.recorder import GROUP

    length = int(client.xlen(stream))
    groups = client.xinfo_groups(stream) if length or client.exists(stream) else []
    group = next((g for g in groups if _s(g.get("name")) == GROUP), None)
    if group is None:
        backlog = length
    else:
        lag = group.get("lag")
        backlog = int(group.get("pending") or 0) + int(length if lag is None else lag)
    oldest = client.xrange(stream, count=1)
    age = None
    if oldest:
        ms = int(_s(oldest[0][0]).split("-", 1)[0])
        age = max(0.0, round(time.time() - ms / 1000, 3))
    return {
        "backlog": backlog,
        "length": length,
        "oldest_age_seconds": age,
        "dead_letters": int(client.xlen(stream + ":dead")),
        "dead_messages": int(client.xlen(MESSAGES_STREAM)),
    }


def _recording_progress(client: Any, stream: str) -> dict[str, Any]:
    """When a recorder last committed a batch (or started), from its marker in Redis."""
    from workers.recording.recorder import PROGRESS_SUFFIX

    marker = {_s(k): _s(v) for k, v in client.hgetall(stream + PROGRESS_SUFFIX).items()}
    at = marker.get("at")
    return {
        "last_commit_age_seconds": None if at is None else round(time.time() - float(at), 3),
        "recorded_entries": int(marker.get("entries") or 0),
    }


def _stalled(rec: dict[str, Any], after_s: float) -> bool:
    """Entries wait longer than ``after_s`` and no recorder committed for as long: a
    recorder that runs but cannot get past something (or none that runs any more)."""
    waited, idle = rec.get("oldest_age_seconds"), rec.get("last_commit_age_seconds")
    if not rec.get("backlog") or waited is None or idle is None:
        return False
    return bool(waited > after_s and idle > after_s)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- database ----------------------------------------------------------------------
def check_database(store: SQLStore, settings: Settings) -> dict[str, Any]:
    from persistence import health as db
    from persistence import partitions
    from workers.settings import redact_url

    url = (
        getattr(settings, "primary_database_url", None) or settings.database_url.get_secret_value()
    )
    # SUPABASE_ENABLE_REALTIME=false: the writers send no change notifications.
    out: dict[str, Any] = {
        "url": redact_url(url),
        "realtime_setting": bool(getattr(settings, "supabase_enable_realtime", True)),
    }
    secrets = _secrets(url)
    try:
        out["latency_ms"] = round(db.ping(store), 2)
        out["tables_accessible"] = db.tables_accessible(store)
        out["realtime_tables"] = db.realtime_tables(store)
        # Rows outside every week partition (docs/schema.md#partitions): degraded if any.
        out["partition_strays"] = partitions.strays(store)
        out["ok"] = True
    except Exception as exc:
        out.update(ok=False, error=one_line(exc, secrets=secrets))
    return out


def check_workers(store: SQLStore, stale_s: float, ping_app: Any = None) -> dict[str, Any]:
    """Online instances, and the agent queues no online worker consumes.

    ``status``: **unhealthy** with no instance online (nothing would run), **degraded**
    when some agent queue has no online instance of its agent type
    (``queues_without_consumer``), else healthy. Workers record an instance per agent
    type they serve, so this covers the agent queues; ``agentq.beat`` is not recorded
    and not checked."""
    from persistence import health as db

    out: dict[str, Any] = {"stale_after_seconds": stale_s, "source": "agent_instances heartbeat"}
    try:
        out.update(db.instances_summary(store, stale_s))
        out["ok"] = True
    except Exception as exc:
        out.update(ok=False, error=one_line(exc))
    else:
        served = set(out["online_agent_types"])
        out["queues_without_consumer"] = [
            queue for agent, queue in agent_type_queues() if agent not in served
        ]
        out["status"] = (
            "unhealthy"
            if not out["online"]
            else "degraded"
            if out["queues_without_consumer"]
            else "healthy"
        )
    if ping_app is not None:
        out["celery_ping"] = _celery_ping(ping_app)
    return out


def agent_type_queues() -> list[tuple[str, str]]:
    """(agent type, its queue) for every agent type."""
    from workers.routing import AGENT_TYPES, queue_name

    return [(a, queue_name(a)) for a in AGENT_TYPES]


def _celery_ping(app: Any) -> dict[str, Any]:
    try:
        replies = app.control.inspect(timeout=1.0).ping() or {}
        return {"ok": True, "workers": sorted(replies)}
    except Exception as exc:
        return {"ok": False, "error": one_line(exc)}


def check_executions(store: SQLStore, window_s: float) -> dict[str, Any]:
    from persistence import health as db

    try:
        return {"ok": True, **db.execution_stats(store, window_s)}
    except Exception as exc:
        return {"ok": False, "error": one_line(exc)}


# --- supabase ----------------------------------------------------------------------
def check_supabase(settings: Settings) -> dict[str, Any]:
    log = logging.getLogger("workers.health.supabase")
    if getattr(settings, "enable_supabase_integration", None) is False:
        log.debug("supabase: disabled (ENABLE_SUPABASE_INTEGRATION=false), not contacted")
        return {
            "ok": True,
            "configured": False,
            "enabled": False,
            "status": "disabled (ENABLE_SUPABASE_INTEGRATION=false)",
        }
    if not settings.is_supabase_configured():
        log.debug("supabase: REST API not configured")
        return {"ok": True, "configured": False, "status": "not configured"}
    log.debug("supabase: checking %s", settings.supabase_url)
    import httpx

    key = settings.supabase_service_role_key or settings.supabase_anon_key
    assert key is not None  # is_supabase_configured() requires one of them
    secret = key.get_secret_value()
    url = str(settings.supabase_url).rstrip("/") + "/rest/v1/"
    out: dict[str, Any] = {"configured": True, "url": settings.supabase_url}
    try:
        resp, out["latency_ms"] = _timed(
            lambda: httpx.get(
                url,
                headers={"apikey": secret, "Authorization": f"Bearer {secret}"},
                timeout=TIMEOUT_S,
            )
        )
        out["http_status"] = resp.status_code
        out["ok"] = resp.status_code < 500
        if not out["ok"]:
            out["error"] = f"HTTP {resp.status_code}"
    except Exception as exc:
        out.update(ok=False, error=one_line(exc, secrets=(secret,)))
    return out


# --- the Supabase mirror (dual database) ---------------------------------------------
def check_mirror(settings: Settings, store: SQLStore) -> dict[str, Any] | None:
    """The outbox of the mirror (backlog, dead rows, oldest age); None without a mirror."""
    from persistence import outbox
    from workers.stores import plan

    try:
        kind = plan(settings).mirror
    except Exception:  # a bare settings object (tests): no mirror
        return None
    if kind is None:
        return None
    out: dict[str, Any] = {"configured": True, "kind": kind}
    out["degraded_after_seconds"] = _setting(settings, "outbox_degraded_seconds", 300.0)
    try:
        out.update(outbox.stats(store), ok=True)
    except Exception as exc:
        out.update(
            ok=False,
            error=one_line(exc, secrets=_secrets(getattr(settings, "primary_database_url", ""))),
        )
    return out
