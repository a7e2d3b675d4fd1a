"""A job the prefork pool cannot take costs that one message, never a pool slot.

How a task reaches a pool process: the worker takes one of its ``concurrency`` slots
(a semaphore, given back when the child reports the job done), billiard registers the
job in its cache, then Celery's asynpool pickles it for the child's pipe
(``send_job``). When the pickling fails (arguments nested deeper than pickle's
recursion limit, anything unpicklable) the exception leaves ``apply_async`` with the
slot still taken and the job still registered, and nothing ever gives them back: no
child has the job, so no child reports it done. After ``concurrency`` such messages
every slot is gone and the worker never hands out another task; what it has reserved
waits in ``unacked``.

:class:`HandOffStep` wraps the prefork pool's ``apply_async`` once the pool has
started: a job that fails to be handed over is unregistered, its slot is given back,
its request is dropped from the worker's state, and its message is set aside in the
dead letters (kind ``other``, "could not be handed to the pool: …") and acknowledged.
The task never ran: its record stays ``queued``, and the dead letter can be replayed.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps
from celery.concurrency.prefork import TaskPool
from celery.worker import state as worker_state

from persistence.formatting import one_line
from workers.broker import guard, message_check

logger = logging.getLogger(__name__)


class HandOffStep(bootsteps.StartStopStep):
    label = "agentq pool hand-off guard"
    requires = ("celery.worker.components:Pool",)  # wraps what the pool's start set up

    def start(self, worker: Any) -> None:
        pool = getattr(worker, "pool", None)
        if isinstance(pool, TaskPool) and getattr(pool, "_pool", None) is not None:
            guard_pool(pool, uses_slots=bool(worker.semaphore and worker.pool_putlocks))


def guard_pool(pool: TaskPool, *, uses_slots: bool) -> None:
    """Wrap ``pool.on_apply`` (billiard's ``apply_async``, set by the pool's start)."""
    apply_async = pool.on_apply

    def on_apply(*args: Any, **options: Any) -> Any:
        try:
            return apply_async(*args, **options)
        except Exception as exc:
            return _not_handed_over(pool, exc, options, uses_slots)

    pool.on_apply = on_apply


def _not_handed_over(pool: TaskPool, exc: Exception, options: dict[str, Any], slots: bool) -> None:
    billiard_pool = pool._pool
    task_id = options.get("correlation_id")
    _unregister(billiard_pool, task_id)
    putlock = getattr(billiard_pool, "_putlock", None)
    if slots and putlock is not None:
        putlock.release()  # the slot the worker took for this job (a child would give it back)
    # The Request whose execute_using_pool called us: its on_accepted is the callback.
    request = getattr(options.get("accept_callback"), "__self__", None)
    message = getattr(request, "message", None)
    if request is None or message is None or getattr(request, "id", None) != task_id:
        raise exc  # not a task request: the consumer's catch-all sets it aside
    worker_state.task_ready(request)
    reason = f"could not be handed to the pool: {one_line(exc)}"
    guard.set_aside_message(message, message_check.OTHER, reason)
    return None


def _unregister(billiard_pool: Any, task_id: Any) -> None:
    """Forget the job billiard registered for ``task_id`` and never sent: the newest
    entry of its cache with that id that no process was given."""
    cache = billiard_pool._cache
    for key in reversed(list(cache)):
        job = cache.get(key)
        if job is not None and job.correlation_id == task_id and job._write_to is None:
            if job not in getattr(billiard_pool, "outbound_buffer", ()):
                cache.pop(key, None)
            return
