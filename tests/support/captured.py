"""A real Celery task message, captured off its Redis queue, as the template of poison."""

from __future__ import annotations

import json
from typing import Any

import redis

from workers.app import app


def capture_envelope(r: redis.Redis, queue: str = "content_generator") -> tuple[bytes, Any]:
    """Publish a noop task the way a producer does (no worker runs yet), take its envelope
    off the queue and return (the queue key it was on, the envelope)."""
    import tests.support.tasks  # noqa: F401  (the test tasks, registered in this process)

    result = app.tasks[f"agents.{queue}.noop"].apply_async(
        kwargs={"task_type": "noop", "input_data": {}}
    )
    keys = [k for k in r.keys(f"{queue}*") if r.type(k) == b"list" and not k.endswith(b":bell")]
    for key in keys:
        for raw in r.lrange(key, 0, -1):
            env = json.loads(raw)
            if env["headers"]["id"] == result.id:
                r.lrem(key, 1, raw)
                return key, env
    raise AssertionError(f"the captured task's message is not on {queue}: keys {keys}")
