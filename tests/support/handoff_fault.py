"""A test-only fault for real workers: the pool cannot take a job (``-I`` this module).

Loaded in a worker's main process (``-I tests.support.tasks,tests.support.handoff_fault``),
it makes the pickling of a job for a pool child fail, as a message nested deeper than
pickle's recursion limit makes it fail, for every task whose body holds
:data:`MARKER`. Every other job is pickled as usual. It wraps the ``dumps`` that Celery's
asynpool binds when it creates its write handlers, so the failure happens exactly where
the real one does: in ``send_job``, after billiard has registered the job and the
worker has taken a pool slot for it.
"""

from __future__ import annotations

import pickle
from typing import Any

from celery.concurrency import asynpool

import tests.support.tasks  # noqa: F401  (the test tasks, as `-I tests.support.tasks` would)
from tests.support.handoff_marker import MARKER

_original = asynpool.AsynPool._create_write_handlers


def _faulty_dumps(obj: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes:
    try:
        body = obj[1][3][3]  # (TASK, (job, i, trace, (type, id, request, body, …), kw))
    except (IndexError, TypeError):
        body = None
    if isinstance(body, bytes | bytearray | memoryview) and MARKER in bytes(body):
        raise RecursionError("maximum recursion depth exceeded while pickling an object")
    return pickle.dumps(obj, protocol=protocol)


def _create_write_handlers(self: Any, hub: Any, *args: Any, **kwargs: Any) -> Any:
    kwargs["dumps"] = _faulty_dumps
    return _original(self, hub, *args, **kwargs)


asynpool.AsynPool._create_write_handlers = _create_write_handlers  # type: ignore[method-assign]
