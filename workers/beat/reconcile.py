"""Beat's reconcile pass (``agentq.beat.reconcile``, every ``AGENTQ_RECONCILE_INTERVAL``):
the record against the broker, repaired when ``AGENTQ_RECONCILE_REPAIR=true``
(docs/reconcile.md). Two passes at once never publish a lost task twice (the claim in
``workers/reconcile/repair.py``)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from workers.beat.names import RECONCILE

logger = logging.getLogger(__name__)


def reconcile() -> dict[str, Any]:
    """One reconcile pass; returns its counts and what was repaired."""
    from workers.reconcile import reconcile_once
    from workers.settings import get_settings

    settings = get_settings()
    report = reconcile_once(repair=settings.reconcile_repair, settings=settings)
    found = {k: n for k, n in report.counts.items() if n}
    if found:
        logger.warning("reconcile: found %s, repaired %s", found, report.repaired)
    return {"counts": report.counts, "repaired": report.repaired}


def register_reconcile_task(app: Celery) -> None:
    # a pass over a large backlog takes seconds; the limits keep a pool process from
    # being held by a Redis or database that stopped answering
    app.task(reconcile, name=RECONCILE, ignore_result=True, soft_time_limit=240, time_limit=300)
