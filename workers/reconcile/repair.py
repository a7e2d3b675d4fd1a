"""What the reconciler does about each kind, when asked to repair.

* **lost**: published again from the recorded request under the same task id and
  attempt (``retries``), then a ``queued`` transition of that attempt is recorded with
  the reason (``Redelivered``: visible in ``agentq status <id>``; it also restarts the
  row's age, so the next pass waits a grace again). Before anything, one claim per task
  and attempt: ``SET agentq:reconcile:claim:<id>:<attempt> NX EX <ttl>`` on the broker's
  Redis. Two reconcilers at the same moment both find the task lost; only the one whose
  ``SET`` created the key publishes. A Redis claim rather than a PostgreSQL advisory lock
  because the danger outlives any one session: a second pass whose broker snapshot was
  taken just before the first pass published would publish again once the lock was
  released; the claim stays until the row's new age has passed the grace, and it lives
  where the message goes (a Redis that lost the claim lost the message too).
  The republish calls the task's ``apply_async`` directly, not ``enqueue``: the task-id
  claim of ``workers/task_id_claims.py`` (same id, same agent type) would accept it anyway,
  and the request was checked when it was first enqueued.
* **unrecorded**: the row is created from the message with the same events the
  publishing hook makes (``pending`` + ``queued``, with their stable ids: should the
  producer's own events arrive later they are the same events), through the process's
  recording sink (the stream and the recorder), or straight into the store when
  recording is off here.
* **expired** / **revoked**: a ``cancelled`` transition with the reason and the stable
  id the worker's own hook would have used.
* **stuck**: on a gone worker whose message is nowhere (past the grace and its time
  limit), published again like a lost task: what the visibility timeout would have done
  had the message survived. Otherwise reported only: a gone worker's execution is the
  reaper's (``agentq.beat.reap_stale``), a live worker past its hard limit needs an
  operator.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from persistence import wire
from persistence.lifecycle import TaskStatus, Transition, stable_event_id
from workers.reconcile.broker_view import message_body
from workers.reconcile.kinds import Finding
from workers.routing import PRIORITIES, task_name

logger = logging.getLogger(__name__)

CLAIM_PREFIX = "agentq:reconcile:claim:"
REDELIVERED = "Redelivered"
RECONCILED = "Reconciled"


def claim(client: Any, task_id: str, attempt: int, ttl_s: float, owner: str) -> bool:
    """True when this reconciler may republish ``task_id``'s ``attempt`` (no other did)."""
    key = f"{CLAIM_PREFIX}{task_id}:{attempt}"
    return bool(client.set(key, owner, nx=True, ex=max(1, int(ttl_s))))


def republish_lost(
    findings: Sequence[Finding],
    requests: dict[str, dict[str, Any]],
    *,
    client: Any,
    recorder: Any,
    ttl_s: float,
    owner: str,
) -> int:
    """Publish every lost task again (see the module docstring); how many were."""
    from workers.reconcile.celery_app import fleet_app

    app = fleet_app()

    done = 0
    for f in findings:
        req = requests.get(f.task_id)
        if req is None or req["status"] != f.status:
            continue  # it moved on since the comparison
        # a retrying row waits for its next attempt's message
        attempt = int(req["retry_count"]) + (1 if req["status"] == "retrying" else 0)
        if not claim(client, f.task_id, attempt, ttl_s, owner):
            logger.info(
                "reconcile: %s attempt %d claimed by another reconciler", f.task_id, attempt
            )
            continue
        task = app.tasks[task_name(req["agent_type"])]
        task.apply_async(
            kwargs={
                "task_type": req["task_type"],
                "input_data": req["input_data"] or {},
                "user_id": req["user_id"],
                "session_id": req["session_id"],
            },
            task_id=f.task_id,
            retries=attempt,
            priority=PRIORITIES.get(req["priority"] or "normal", PRIORITIES["normal"]),
        )
        reason = (
            f"redelivered by the reconciler ({owner}): the message was lost "
            f"(recorded {req['status']} {f.age_seconds:.0f} s"
            + (f" on {f.where}, a worker that is gone" if req["status"] == "running" else "")
            + ", in no queue)"
        )
        recorder.record(
            [
                Transition(
                    event_id=uuid.uuid4(),
                    task_id=f.task_id,
                    status=TaskStatus.QUEUED,
                    attempt=attempt,
                    occurred_at=datetime.now(UTC),
                    agent_type=req["agent_type"],
                    task_type=req["task_type"] or "",
                    result={"error_message": reason, "error_type": REDELIVERED},
                )
            ]
        )
        logger.warning("reconcile: lost task %s published again (attempt %d)", f.task_id, attempt)
        done += 1
    return done


def unrecorded_events(raw: bytes, now: float) -> list[dict[str, Any]]:
    """The ``pending`` + ``queued`` events the publishing hook would have sent for the
    message ``raw`` (the same stable event ids)."""
    from workers.routing import agent_type_of, priority_name

    headers, _args, kwargs = message_body(raw)
    task_id, attempt = headers["id"], int(headers.get("retries") or 0)
    agent_type = agent_type_of(headers["task"]) or ""
    task_type = str(kwargs.get("task_type", ""))
    env_priority = None
    try:
        import orjson

        env_priority = (orjson.loads(raw).get("properties") or {}).get("priority")
    except Exception:  # the priority is a nicety
        env_priority = None
    request: dict[str, Any] = {
        "input_data": kwargs.get("input_data"),
        "user_id": kwargs.get("user_id"),
        "session_id": kwargs.get("session_id"),
        "priority": priority_name(env_priority),
    }
    if headers.get("eta"):
        request["eta"] = headers["eta"]
    pending = wire.transition(
        stable_event_id(task_id, 0, "pending").hex,
        task_id,
        "pending",
        0,
        now,
        agent_type,
        task_type,
        request=request,
    )
    queued = wire.transition(
        stable_event_id(task_id, attempt, "queued").hex,
        task_id,
        "queued",
        attempt,
        now,
        agent_type,
        task_type,
        result={
            "error_message": "recorded by the reconciler from its message (no row was found)",
            "error_type": RECONCILED,
        },
    )
    return [pending, queued]


def record_unrecorded(raws: Sequence[bytes], store: Any) -> int:
    """Create the rows of messages that had none; how many."""
    from workers.recording import signals

    events: list[dict[str, Any]] = []
    for raw in raws:
        try:
            events.extend(unrecorded_events(raw, time.time()))
        except Exception as exc:  # a message the guard will set aside anyway
            logger.warning("reconcile: unrecorded message not readable: %s", exc)
    if not events:
        return 0
    sink = signals.get_sink()
    if sink is not None:  # the normal recording path: the stream, then the recorder
        sink.emit(events, final=True)
        signals.flush()
    else:
        store.record_wire(wire.encode(events))
    return len(events) // 2


def finalize(findings: Sequence[Finding], reason: str, recorder: Any) -> int:
    """``cancelled`` with ``reason`` for each finding; how many."""
    if not findings:
        return 0
    now = datetime.now(UTC)
    recorder.record(
        [
            Transition(
                event_id=stable_event_id(f.task_id, f.attempt, "cancelled"),
                task_id=f.task_id,
                status=TaskStatus.CANCELLED,
                attempt=f.attempt,
                occurred_at=now,
                agent_type=f.agent_type,
                task_type=f.task_type,
                result={
                    "error_message": f"task {reason} (set final by the reconciler: {f.detail})",
                    "error_type": "Revoked",
                },
            )
            for f in findings
        ]
    )
    return len(findings)
