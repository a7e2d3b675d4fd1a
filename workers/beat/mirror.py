"""Beat's outbox replay: ``agentq.beat.replay_outbox`` (scheduled in ``beat_schedule.py``).

Every ``AGENTQ_OUTBOX_REPLAY_SECONDS`` it applies what the Supabase mirror missed, in
order, in chunks of ``AGENTQ_OUTBOX_REPLAY_BATCH`` rows, for at most 60 s; the next run
goes on. Without a mirror it does nothing. Idempotent: one replayer at a time (an
advisory lock), and every replayed call is idempotent on the mirror.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from celery import Celery

from persistence.mirror import Mirror
from workers.beat.names import REPLAY_OUTBOX
from workers.settings import get_settings
from workers.stores import get_mirror

logger = logging.getLogger(__name__)

BUDGET_S = 60.0


def run_replay_outbox(mirror: Mirror | None = None, *, chunk: int | None = None) -> dict[str, Any]:
    mirror = mirror or get_mirror()
    if mirror is None:
        return {"configured": False}
    result = mirror.replay(chunk=chunk or get_settings().outbox_replay_batch, budget_s=BUDGET_S)
    out = {"configured": True, "breaker": mirror.guard.state, **asdict(result)}
    if result.replayed or result.dead or result.error:
        logger.info("outbox replay: %s", out, extra={"action": "outbox_replay"})
    return out


def replay_outbox() -> dict[str, Any]:
    """Replay what the Supabase mirror missed (the outbox in the primary), in order."""
    return run_replay_outbox()


def register_mirror_tasks(app: Celery) -> None:
    # Housekeeping must never hold a pool process for long: hard limits.
    app.task(
        replay_outbox, name=REPLAY_OUTBOX, ignore_result=True, soft_time_limit=90, time_limit=120
    )
