"""Beat's ``agentq.beat.partitions``: the history's, metrics' and health rows' weeks created
ahead (:func:`persistence.partitions.create_ahead`), on the primary and on an SQL mirror,
so rows never land in the default partition for want of a week (docs/schema.md#partitions).
Idempotent: a week that exists is left alone. Scheduled in ``beat_schedule.py``."""

from __future__ import annotations

import logging
from typing import Any, cast

from celery import Celery

from persistence import partitions
from persistence.mirror import Mirror
from persistence.sql_store import HasEngine
from workers.beat.names import PARTITIONS
from workers.stores import get_mirror, get_store

logger = logging.getLogger(__name__)
WEEKS_AHEAD = 2


def run_partitions(
    store: HasEngine | None = None, mirror: Mirror | None = None, weeks: int = WEEKS_AHEAD
) -> dict[str, Any]:
    """Create the coming weeks in the primary (and in the mirror when it is a database
    this process reaches by SQL); returns what each got and the strays counted."""
    if store is None:
        store, mirror = get_store(), get_mirror()
    out: dict[str, Any] = {"primary": partitions.create_ahead(store, weeks)}
    records = mirror.records if mirror is not None else None
    if records is not None and hasattr(records, "engine"):  # SQL (REST: docs/schema.md)
        try:
            out["mirror"] = partitions.create_ahead(cast(HasEngine, records), weeks)
        except Exception as exc:  # the mirror is down: the next run creates them
            logger.warning("mirror partitions not created: %s", exc)
    out["strays"] = partitions.strays(store)
    if any(out["strays"].values()):
        logger.warning("rows in default partitions: %s", out["strays"])
    return out


def partitions_ahead() -> dict[str, Any]:
    """Create the history's, metrics' and health rows' partitions two weeks ahead."""
    return run_partitions()


def register_partition_tasks(app: Celery) -> None:
    app.task(
        partitions_ahead, name=PARTITIONS, ignore_result=True, soft_time_limit=240, time_limit=300
    )
