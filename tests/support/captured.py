"""A real Celery task message, captured off its Redis queue, as the template of poison."""

from __future__ import annotations

import json
from typing import Any

import redis

from workers.app import app

# Captured from the producer (`app.tasks["agents.content_generator"].apply_async(...)` on
# redis, then LRANGE): the envelope exactly as Celery 5.7 / kombu 5.7 write it.
CAPTURED = json.loads(
    '{"body": "W1tdLCB7InRhc2tfdHlwZSI6ICJhcnRpY2xlIiwgImlucHV0X2RhdGEiOiB7InRvcGljIjogIngif'
    "X0sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbn"
    'VsbH1d", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lan'
    'g": "py", "task": "agents.content_generator", "id": "b97b8a01-058b-4e2d-89ea-b169b5c7d2f8'
    '", "shadow": null, "eta": null, "expires": null, "group": null, "group_index": null, "ret'
    'ries": 0, "timelimit": [30.0, 20.0], "root_id": "b97b8a01-058b-4e2d-89ea-b169b5c7d2f8", "'
    'parent_id": null, "argsrepr": "()", "kwargsrepr": "{\'task_type\': \'article\', \'input_d'
    'ata\': {\'topic\': \'x\'}}", "origin": "gen13192@vm", "ignore_result": true, "replaced_'
    'task_nesting": 0, "stamped_headers": null, "stamps": {}}, "properties": {"correlation_id"'
    ': "b97b8a01-058b-4e2d-89ea-b169b5c7d2f8", "reply_to": "ea7663ad-8de9-3000-a707-4f836b08b'
    '2b5", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "content_gener'
    'ator"}, "priority": 5, "body_encoding": "base64", "delivery_tag": "fc2b7396-0c28-4846-917'
    'a-b3bb53457237"}}'
)


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
