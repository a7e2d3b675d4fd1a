"""Poison for the soak: malformed broker messages on the agent queues and malformed
entries in the recording stream, as a buggy or hostile producer would write them."""

from __future__ import annotations

import base64
import json
import random
import uuid
from typing import Any

from persistence import wire
from workers.soak import mutations

AGENT_QUEUES = ("content_generator", "quiz_generator", "terrain_generator", "code_reviewer")


def _envelope(queue: str, body: bytes, headers: dict[str, Any]) -> dict[str, Any]:
    tag = str(uuid.uuid4())
    return {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            "correlation_id": tag,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": tag,
        },
    }


def _headers(task: str) -> dict[str, Any]:
    return {"lang": "py", "task": task, "id": str(uuid.uuid4()), "retries": 0}


def _celery_envelope(queue: str) -> dict[str, Any]:
    """A good task message as Celery 5 writes it (every protocol-2 header): the template
    the mutations of ``workers/soak/mutations.py`` change one field of."""
    tid = str(uuid.uuid4())
    headers = {
        **_headers(f"agents.{queue}"),
        "id": tid,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "timelimit": [None, None],
        "root_id": tid,
        "parent_id": None,
        "argsrepr": "()",
        "kwargsrepr": "{...}",
        "origin": "gen1@soak",
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    body = json.dumps([[], {"task_type": "poison", "input_data": {}}, embed]).encode()
    return _envelope(queue, body, headers)


def messages(n: int, rng: random.Random, oversize: int) -> list[tuple[str, bytes]]:
    """``n`` poison messages as (queue, raw envelope): invalid JSON, unknown task
    names, wrong argument shapes, a few bodies far over the size limit, and (one in five)
    each of issue 20's mutations of a real message in turn (``mutations.MUTATIONS``)."""
    out = []
    names = sorted(mutations.MUTATIONS)
    for i in range(n):
        queue = rng.choice(AGENT_QUEUES)
        kind = i % 5
        if kind == 4:
            name = names[(i // 5) % len(names)]
            out.append((queue, mutations.mutate(name, _celery_envelope(queue))))
            continue
        if kind == 0:
            raw = b"{not json " + str(i).encode()
        elif kind == 1:
            body = json.dumps([[], {}, None]).encode()
            raw = json.dumps(_envelope(queue, body, _headers("agents.no_such_agent"))).encode()
        elif kind == 2:
            body = json.dumps([[], {}]).encode()  # not [args, kwargs, embed]
            raw = json.dumps(_envelope(queue, body, _headers(f"agents.{queue}"))).encode()
        else:
            body = json.dumps([[], {"input_data": {"text": "x" * oversize}}, None]).encode()
            raw = json.dumps(_envelope(queue, body, _headers(f"agents.{queue}"))).encode()
        out.append((queue, raw))
    return out


def stream_entries(n: int) -> list[bytes]:
    """``n`` malformed recording-stream entries: not JSON, out-of-range times, unknown
    statuses, a NUL in a task id."""
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(b"{oops")
            continue
        ev = wire.transition(
            uuid.uuid4().hex, str(uuid.uuid4()), "queued", 0, 1.8e9, "quiz_generator", "quiz"
        )
        if kind == 1:
            ev["at"] = 1e20
        elif kind == 2:
            ev["s"] = "exploded"
        else:
            ev["t"] = "bad\u0000id"
        out.append(wire.encode([ev]))
    return out
