"""The verdict of a health report: healthy, degraded or unhealthy, and the reasons.

Verdict:

* **unhealthy** — the settings are invalid, the database or the broker cannot be
  reached, a seed table is not readable, no worker is online (no agent instance with a
  fresh heartbeat: nothing would run), a worker is stalled (it holds messages and no
  task started or ended there for ``AGENTQ_WORKER_STALL_SECONDS``, or its event loop
  stopped reporting: ``workers/health/progress.py``; each is named), or recording is
  stalled (see ``workers/health/checks.py``).
* **degraded** — the recording stream cannot be reached (hooks spool to disk meanwhile),
  the recording lag exceeds 30 s (and recording is not stalled), the error rate exceeds
  20 % (over at least 5 ended executions), an agent queue has no live consumer (no
  online instance of its agent type; each such queue is named),
  dead letters are kept (broker messages or recording entries set aside),
  Supabase is configured but does not answer, the database or broker takes more than
  1 s, a statistic failed, or the last reconcile pass left lost tasks unrepaired
  (``workers/health/reconcile.py``).
* **healthy** — otherwise. ``reasons`` lists every finding, worst first.
"""

from __future__ import annotations

from typing import Any

RECORDING_LAG_MAX_S = 30.0
ERROR_RATE_MAX = 20.0
ERROR_RATE_MIN_SAMPLE = 5
SLOW_MS = 1000.0

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


def verdict(components: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """The overall status and its reasons (unhealthy ones first)."""
    bad = _unhealthy_reasons(components)
    warn = _degraded_reasons(components)
    status = UNHEALTHY if bad else DEGRADED if warn else HEALTHY
    return status, bad + warn


def _unhealthy_reasons(c: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    if "settings" in c:
        out.append(f"settings invalid: {c['settings'].get('error')}")
    if "internal" in c:
        out.append(f"health check failed: {c['internal'].get('error')}")
    db, broker = c.get("database", {}), c.get("broker", {})
    if db and not db.get("ok"):
        out.append(f"database unreachable: {db.get('error')}")
    missing = [t for t, ok in (db.get("tables_accessible") or {}).items() if not ok]
    if missing:
        out.append("tables not accessible: " + ", ".join(missing))
    if broker and not broker.get("ok"):
        out.append(f"broker unreachable: {broker.get('error')}")
    workers = c.get("workers", {})
    # With the broker down no worker can be seen: the broker is the reason, not the workers.
    if workers.get("ok") and not workers.get("online") and broker.get("ok", True):
        waiting = c.get("queues", {}).get("total")
        out.append(
            "no worker online: no queue is consumed"
            + (f", {waiting} messages waiting" if waiting else "")
            + " (start one: celery -A workers.app worker)"
        )
    for stall in workers.get("stalled") or []:
        out.append(f"worker {stall['worker']} stalled: {stall['why']}")
    rec = c.get("recording", {})
    if rec.get("stalled"):
        out.append(
            f"recording stalled: {rec.get('backlog')} entries waiting, "
            f"no batch committed for {rec.get('last_commit_age_seconds', 0):.0f} s"
        )
    return out


def _degraded_reasons(c: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for name in ("database", "broker"):
        ms = c.get(name, {}).get("latency_ms")
        if ms is not None and ms > SLOW_MS:
            out.append(f"{name} slow: {ms:.0f} ms")
    rec = c.get("recording", {})
    if rec and not rec.get("ok") and c.get("broker", {}).get("ok"):
        out.append(f"recording stream unreachable: {rec.get('error')}")
    dead = (rec.get("dead_letters") or 0) + (rec.get("dead_messages") or 0)
    if dead:
        out.append(
            f"{dead} dead letters: {rec.get('dead_messages') or 0} broker messages, "
            f"{rec.get('dead_letters') or 0} recording entries set aside (agentq dead-letters)"
        )
    age = rec.get("oldest_age_seconds")
    if age is not None and age > RECORDING_LAG_MAX_S and not rec.get("stalled"):
        out.append(f"recording lag {age:.0f} s (backlog {rec.get('backlog')})")
    ex = c.get("executions", {})
    rate = ex.get("error_rate")
    if rate is not None and rate > ERROR_RATE_MAX and ex.get("ended", 0) >= ERROR_RATE_MIN_SAMPLE:
        out.append(f"error rate {rate:.1f} % over {ex['ended']} executions")
    out.extend(_unconsumed_reasons(c))
    lost = c.get("reconcile", {}).get("lost_awaiting_repair")
    if lost:
        out.append(
            f"{lost} lost tasks await repair: recorded as waiting, their message is nowhere "
            "(agentq reconcile --repair, or AGENTQ_RECONCILE_REPAIR=true)"
        )
    out.extend(_mirror_reasons(c.get("mirror", {})))
    strays = c.get("database", {}).get("partition_strays") or {}
    if any(strays.values()):
        counts = ", ".join(f"{t} {n}" for t, n in sorted(strays.items()) if n)
        out.append(f"rows outside every week partition (default partitions): {counts}")
    sb = c.get("supabase", {})
    if sb.get("configured") and not sb.get("ok"):
        out.append(f"supabase unreachable: {sb.get('error')}")
    for name in ("queues", "workers", "executions"):
        if name in c and not c[name].get("ok") and c.get("database", {}).get("ok", True):
            if name == "queues" and not c.get("broker", {}).get("ok"):
                continue
            out.append(f"{name} check failed: {c[name].get('error')}")
    return out


def _unconsumed_reasons(c: dict[str, dict[str, Any]]) -> list[str]:
    """Agent queues no live worker consumes (when some worker is online: with none, the
    unhealthy reason says it), each with what waits in it when the broker answered."""
    workers = c.get("workers", {})
    queues = workers.get("queues_without_consumer") or []
    if not (workers.get("ok") and workers.get("online") and queues):
        return []
    depth = c.get("queues", {}).get("depth") or {}
    named = ", ".join(f"{q} ({depth[q]} waiting)" if q in depth else q for q in queues)
    noun = "queue" if len(queues) == 1 else f"{len(queues)} queues"
    return [f"no live worker consumes {noun}: {named}"]


def _mirror_reasons(m: dict[str, Any]) -> list[str]:
    if not m:
        return []
    if not m.get("ok"):
        return [f"mirror outbox check failed: {m.get('error')}"]
    out = []
    age = m.get("oldest_age_seconds")
    if age is not None and age > m.get("degraded_after_seconds", 300.0):
        out.append(f"supabase mirror behind: {m.get('backlog')} outbox rows, oldest {age:.0f} s")
    if m.get("dead"):
        out.append(f"supabase mirror refused {m['dead']} outbox rows (see mirror_outbox)")
    return out
