"""One reconcile pass: read the record, read the broker, compare, confirm, repair, report.

The record is read first and the broker after it: a row that changes while the broker
is read (its task ran and was acknowledged) is caught by the second look below, whereas
a message published after the record was read has no open row yet and is only counted
unrecorded once it was seen without a row for the whole grace.

Before a task is called lost the pass looks twice more: the broker again (a message
moving between two keys while they were read, kombu's restore from the unacked hash)
and the task's row again (it ran meanwhile), then the online workers (``inspect``:
active, reserved and ETA-scheduled requests — a worker holds a prefetched message in
memory even when its unacked entry is gone). A lost task that a worker revoked is
revoked, not lost (``inspect().revoked()``). The workers are asked only when there are
lost tasks and workers online.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import replace
from typing import Any

import redis

from persistence.schema import AGENT_TYPE_VALUES
from workers.reconcile import record_view
from workers.reconcile import repair as fix
from workers.reconcile.broker_view import read_broker
from workers.reconcile.caught_up import behind_after_wait, behind_s, stream_now_ms
from workers.reconcile.compare import Facts, compare
from workers.reconcile.kinds import (
    EXPIRED,
    LOST,
    REVOKED,
    STUCK,
    UNRECORDED,
    WHERE_DEAD,
    Finding,
    Findings,
)
from workers.reconcile.report import ReconcileReport, store_last

logger = logging.getLogger(__name__)

FIRST_SEEN_KEY = "agentq:reconcile:unrecorded"  # task id -> when first seen without a row
INSPECT_TIMEOUT_S = 1.0


def _time_limits() -> dict[str, float]:
    from tasks.registry import load_agents

    return {name: float(spec.time_limit) for name, spec in load_agents().items()}


def _first_seen(client: Any, candidates: set[str], now: float) -> dict[str, float]:
    """When each candidate was first seen without a row (now for new ones); forgets the
    ones that are no longer candidates."""
    known = {k.decode(): float(v) for k, v in client.hgetall(FIRST_SEEN_KEY).items()}
    out = {tid: known.get(tid, now) for tid in candidates}
    pipe = client.pipeline(transaction=True)
    pipe.delete(FIRST_SEEN_KEY)
    if out:
        pipe.hset(FIRST_SEEN_KEY, mapping={k: repr(v) for k, v in out.items()})
    pipe.execute()
    return out


def _workers_say(online: set[str]) -> tuple[set[str], set[str]]:
    """What the online workers hold (reserved, active and ETA-scheduled requests) and
    what they revoked: ``inspect`` with a short timeout, returning as soon as every
    online worker replied."""
    if not online:
        return set(), set()
    from workers.reconcile.celery_app import fleet_app

    app = fleet_app()

    inspect = app.control.inspect(timeout=INSPECT_TIMEOUT_S, limit=len(online))
    held: set[str] = set()
    try:
        for method in (inspect.active, inspect.reserved, inspect.scheduled):
            for requests in (method() or {}).values():
                for r in requests or []:
                    req = r.get("request", r) if isinstance(r, dict) else {}
                    if isinstance(req, dict) and req.get("id"):
                        held.add(str(req["id"]))
        revoked = {str(t) for ids in (inspect.revoked() or {}).values() for t in (ids or [])}
    except Exception as exc:  # no answer: nothing known held or revoked
        logger.warning("reconcile: inspect failed: %s", exc)
        return held, set()
    return held, revoked


def _confirm_lost(
    findings: Findings,
    broker: Any,
    events: Any,
    store: Any,
    page: int,
    online: set[str],
    stream: str,
) -> dict[str, int]:
    """The second look at lost tasks and at stuck ones to publish again (module
    docstring); moves revoked ones. Returns what it deferred, by kind: all of them when
    the record is behind the broker's second look (workers/reconcile/caught_up.py)."""
    lost = findings.by_kind[LOST]
    gone = [f for f in findings.by_kind[STUCK] if f.republish]
    if not lost and not gone:
        return {}
    looked_at = stream_now_ms(events)
    again = read_broker(broker, AGENT_TYPE_VALUES, page=page, dead_letters=events)
    if behind_after_wait(events, stream, looked_at) is not None:
        findings.by_kind[LOST] = []
        findings.by_kind[STUCK] = [replace(f, republish=False) for f in findings.by_kind[STUCK]]
        return {k: n for k, n in ((LOST, len(lost)), (STUCK, len(gone))) if n}
    now_states = record_view.states(store, [f.task_id for f in lost + gone])

    def still(f: Finding) -> bool:
        state = now_states.get(f.task_id)
        return (
            f.task_id not in again.seen
            and state is not None
            and state[:2]
            == (
                f.status,
                f.attempt,
            )
        )

    kept = [f for f in lost if still(f)]
    held, revoked = _workers_say(online)
    kept = [f for f in kept if f.task_id not in held]  # a worker has it (ETA, prefetched)
    findings.by_kind[LOST] = [f for f in kept if f.task_id not in revoked]
    findings.by_kind[REVOKED].extend(f for f in kept if f.task_id in revoked)
    findings.by_kind[STUCK] = [
        f
        if not f.republish or (still(f) and f.task_id not in held)
        else replace(f, republish=False)
        for f in findings.by_kind[STUCK]
    ]
    return {}


def reconcile_once(
    *, repair: bool, grace_s: float | None = None, settings: Any = None, store: Any = None
) -> ReconcileReport:
    """Compare the record with the broker once; repair what was found when ``repair``.

    ``grace_s`` (default ``AGENTQ_RECONCILE_GRACE``): how long a row may wait for a
    message that is nowhere before it is lost (and a message without a row before it is
    unrecorded). ``store``: the primary SQL store (default: one made for this pass).
    The report is also stored for ``/metrics``, health and the page.
    """
    from workers.settings import get_settings
    from workers.stores import build_mirror, sql_store

    settings = settings or get_settings()
    grace = float(settings.reconcile_grace_seconds if grace_s is None else grace_s)
    if not grace >= 0:
        raise ValueError(f"grace_s must be a number of seconds >= 0, not {grace_s!r}")
    if not settings.broker_url.startswith(("redis://", "rediss://")):
        raise ValueError(
            "the reconciler reads the Redis broker's keys: CELERY_BROKER_URL is not a "
            "redis:// or rediss:// URL"
        )
    page = int(settings.reconcile_page)
    started = time.perf_counter()
    own_store = store is None
    store = sql_store(settings, pool_size=1) if own_store else store
    broker = redis.Redis.from_url(settings.broker_url, socket_timeout=30)
    events = redis.Redis.from_url(settings.recorder_redis_url, socket_timeout=30)
    try:
        record = record_view.read_record(store, page=page)
        open_ids = {r.task_id for r in record.rows}
        looked_at = stream_now_ms(events)
        view = read_broker(
            broker,
            AGENT_TYPE_VALUES,
            page=page,
            keep_raw=lambda tid: tid not in open_ids,
            dead_letters=events,
        )
        others = [t for t, s in view.seen.items() if t not in open_ids and s.where != WHERE_DEAD]
        recorded = set(record_view.existing_ids(store, others, page))
        candidates = set(others) - recorded
        deferred: dict[str, int] = {}
        behind = None
        if candidates:  # the recorder may not have written their rows yet
            behind = behind_after_wait(events, settings.events_stream, looked_at)
            if behind is None:
                recorded |= set(record_view.existing_ids(store, list(candidates), page))
        if behind is None:
            first_seen = _first_seen(events, set(others) - recorded, record.now)
        else:  # none unrecorded this pass; what was first seen when is kept
            deferred[UNRECORDED] = len(candidates)
            recorded, first_seen = set(others), {}
        online = record_view.online_workers(store, settings.stale_agent_seconds)
        facts = Facts(
            now=record.now,
            grace_s=grace,
            online_workers=frozenset(online),
            time_limits=_time_limits(),
            visibility_timeout_s=float(settings.visibility_timeout),
            recorded=frozenset(recorded),
            first_seen=first_seen,
        )
        findings = compare(record.rows, view.seen, facts)
        deferred |= _confirm_lost(
            findings, broker, events, store, page, online, settings.events_stream
        )
        report = ReconcileReport.of(
            findings,
            repair=repair,
            grace_s=grace,
            open_rows=len(record.rows),
            messages=view.messages,
            pages={"record": record.pages, "broker": view.pages},
            longest_redis_command_ms=view.longest_command_s * 1000,
        )
        if repair:
            mirror = build_mirror(settings, store)
            _repair(findings, report, store, mirror, broker, view, grace)
        else:
            report.actions = {
                k: "reported only (repair is off)" for k in report.counts if report.counts[k]
            }
        if report.counts[STUCK] and (STUCK not in report.actions or not repair):
            report.actions[STUCK] = "reported: the reaper fails executions of gone workers"
        if deferred:
            report.deferred = deferred
            report.recording_behind_s = behind_s(events, settings.events_stream)
            for kind, n in deferred.items():
                report.actions[kind] = (
                    f"deferred: {n}, the record is {report.recording_behind_s} s behind "
                    "the recording stream (looked at again next pass)"
                )
        report.seconds = time.perf_counter() - started
        try:
            store_last(events, report)
        except redis.RedisError as exc:
            logger.warning("reconcile report not stored: %s", exc)
        return report
    finally:
        broker.close()
        events.close()
        if own_store:
            store.close()


def _repair(
    findings: Findings,
    report: ReconcileReport,
    store: Any,
    mirror: Any,
    broker: Any,
    view: Any,
    grace: float,
) -> None:
    from persistence.mirror import MirroredStore

    recorder: Any = store if mirror is None else MirroredStore(store, mirror)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    lost = findings.by_kind[LOST]
    if lost:
        requests = record_view.requests(store, [f.task_id for f in lost])
        # the claim outlives the row's new age: the next pass waits a grace again anyway
        ttl = max(grace, 60.0)
        n = fix.republish_lost(
            lost, requests, client=broker, recorder=recorder, ttl_s=ttl, owner=owner
        )
        report.repaired[LOST] = n
        report.actions[LOST] = (
            f"published again: {n} (the others were claimed by another pass or moved on)"
        )
    gone = [f for f in findings.by_kind[STUCK] if f.republish]
    if gone:
        requests = record_view.requests(store, [f.task_id for f in gone])
        n = fix.republish_lost(
            gone, requests, client=broker, recorder=recorder, ttl_s=max(grace, 60.0), owner=owner
        )
        report.repaired[STUCK] = n
        report.actions[STUCK] = (
            f"published again: {n} whose worker is gone and message nowhere; "
            "the others reported (the reaper fails executions of gone workers)"
        )
    unrecorded = [view.seen[f.task_id].raw for f in findings.by_kind[UNRECORDED]]
    raws = [r for r in unrecorded if r]
    if raws:
        n = fix.record_unrecorded(raws, store)
        report.repaired[UNRECORDED] = n
        report.actions[UNRECORDED] = f"rows created from their messages: {n}"
    for kind, reason in ((EXPIRED, "expired"), (REVOKED, "revoked")):
        if findings.by_kind[kind]:
            n = fix.finalize(findings.by_kind[kind], reason, recorder)
            report.repaired[kind] = n
            report.actions[kind] = f"set final (cancelled, {reason}): {n}"
