"""What shows, once the soak is over, that each fault took effect, and the dead letters.

Some evidence is known when a fault is injected (children killed, seconds down); the
rest is in the workers' logs, the soak's Redis and its database afterwards: tasks that ran
twice at one attempt, spooled events replayed, recorder back-offs, reconnections, events
stamped by a clock ahead of the database's, poison found in the dead letters, and the
deleted messages the reconciler published again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg
import redis

from workers.broker.dead_letters import SOURCE_MESSAGES, SOURCE_RECORDING, DeadLetters
from workers.soak import reconciled
from workers.soak.faults import Fault
from workers.soak.verify import Verdict


@dataclass(frozen=True)
class Sources:
    redis_url: str
    database_url: str
    logs: str  # every worker host's log, concatenated
    hosts: int  # each connected to Redis once at start (not a reconnection)


def gather(by_kind: dict[str, Fault], src: Sources, verdict: Verdict, skewed: str) -> None:
    kill = by_kind["kill_child"]
    kill.evidence["pinned_rerun"] = sum(1 for t in kill.pinned if _runs(verdict, t) >= 2)
    cut = by_kind["partition"]
    cut.evidence["spool_entries_replayed"] = spool_replayed(src.logs)
    # Its pinned tasks ran there during the cut and again after the visibility timeout
    # (back on its own queue: on the same host once it is back); tasks it had taken off
    # the shared queues ran again on another host.
    cut.evidence["pinned_rerun"] = sum(1 for t in cut.pinned if _runs(verdict, t) >= 2)
    cut_host = cut.evidence.get("host")
    cut.evidence["rerun_elsewhere"] = sum(
        1
        for t in verdict.histories
        if (runners := _runners(verdict, t))
        and runners[0] == cut_host
        and any(w != cut_host for w in runners[1:])
    )
    if "broker_loss" in by_kind:
        broker_loss_repairs(by_kind["broker_loss"], verdict)
    by_kind["postgres_down"].evidence["recorder_backoffs"] = src.logs.count("recorder paused")
    restart = by_kind.get("redis_restart") or by_kind["redis_kill"]
    reconnects = len(re.findall(r"Connected to redis", src.logs)) - src.hosts
    restart.evidence["reconnections"] = reconnects
    by_kind["clock_skew"].evidence.update(clock_lead(src.database_url, skewed))
    keeper = _keeper(src.redis_url)
    total = sum(keeper.count().values())
    distinct = distinct_dead_letters(keeper)
    poison = by_kind["poison"].evidence
    poison["dead_letters"] = total
    # Every poison message and entry must end as a dead letter with its reason. Keeping
    # one is at-least-once (a worker killed between keeping and acknowledging it keeps it
    # again after the redelivery): each counts once.
    poison["kept_twice"] = total - distinct
    sent = poison.get("messages", 0) + poison.get("stream_entries", 0)
    poison["unaccounted"] = sent - distinct


def broker_loss_repairs(fault: Fault, verdict: Verdict) -> None:
    """The deleted tasks the reconciler published again; those deleted from a queue that
    it did not (nobody else holds them: each must be repaired)."""
    ids = fault.evidence.get("task_ids", {})
    queues, unacked = ids.get("queues", []), ids.get("unacked", [])
    fixed = set(reconciled.repaired(verdict.histories, [*queues, *unacked]))
    fault.evidence["repaired"] = len(fixed)
    fault.evidence["unrepaired"] = [t for t in queues if t not in fixed]


def _runs(verdict: Verdict, task_id: str) -> int:
    return len(_runners(verdict, task_id))


def _runners(verdict: Verdict, task_id: str) -> list[str]:
    """The worker of each ``running`` event of the task (one per run)."""
    history = verdict.histories.get(task_id, [])
    return [h["worker"] for h in history if h["status"] == "running"]


def spool_replayed(logs: str) -> int:
    return sum(int(n) for n in re.findall(r"replayed (\d+) spooled entries", logs))


def clock_lead(database_url: str, skewed: str) -> dict[str, Any]:
    """The skewed host's events stamped later than PostgreSQL committed them (only a
    clock ahead does that), and by how much at most: close to the skew."""
    sql = (
        "SELECT count(*), max(extract(epoch FROM occurred_at - recorded_at)) "
        "FROM agent_execution_events WHERE worker = %s AND occurred_at > recorded_at"
    )
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute(sql, (skewed,)).fetchone()
    ahead, most = row if row else (0, None)
    return {
        "events_ahead": int(ahead or 0),
        "max_ahead_seconds": None if most is None else round(float(most), 2),
    }


def _keeper(redis_url: str) -> DeadLetters:
    return DeadLetters(redis.Redis.from_url(redis_url))


def dead_letters(redis_url: str) -> dict[str, int]:
    return _keeper(redis_url).count()


def distinct_dead_letters(keeper: DeadLetters) -> int:
    """Dead letters counted once per message (its task id, else its bytes) or per stream
    entry (its original id)."""
    keys: set[str] = set()
    for eid, fields in keeper.redis.xrange(keeper.streams[SOURCE_MESSAGES]):
        task_id = fields.get(b"task_id", b"").decode()
        keys.add("m:" + (task_id or fingerprint(fields.get(b"raw", eid))))
    for eid, fields in keeper.redis.xrange(keeper.streams[SOURCE_RECORDING]):
        keys.add("r:" + fields.get(b"entry", eid).decode())
    return len(keys)


def fingerprint(raw: bytes) -> str:
    """A kept message's bytes as first published. Kombu's restore of an unacked message
    (its worker died after keeping it and before acknowledging) sets ``redelivered`` in
    its headers and delivery info and serialises it again, so the copy kept the second
    time differs byte for byte (seen: an oversized poison message, kept without a task id,
    counted twice when its worker was SIGKILLed)."""
    try:
        env = json.loads(raw)
    except (ValueError, RecursionError):
        return hashlib.sha1(raw).hexdigest()
    if not isinstance(env, dict):
        return hashlib.sha1(raw).hexdigest()
    props = env.get("properties")
    info = props.get("delivery_info") if isinstance(props, dict) else None
    for part in (env.get("headers"), info):
        if isinstance(part, dict):
            part.pop("redelivered", None)
    return hashlib.sha1(json.dumps(env, sort_keys=True).encode()).hexdigest()


def dead_letter_reasons(redis_url: str) -> dict[str, dict[str, int]]:
    """Broker messages set aside per kind; recording entries per reason (its words before
    the first colon: the rest names the entry)."""
    keeper = _keeper(redis_url)
    reasons = Counter(
        row.get("reason", "").split(":", 1)[0]
        for row in keeper.entries(SOURCE_RECORDING, limit=100_000)
    )
    return {"messages": keeper.kinds_total(), "recording": dict(reasons)}
