"""What a run did besides its work: the Celery events it sent, the modules it loaded.

Both keep the vanilla anchors honest (``bench/vanilla_app.py``): (v) must send no task
event and neither (v) nor (f) may load the product's broker layer or hooks.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from typing import Any

import redis
from kombu import Connection
from kombu.transport import redis as kombu_redis

# What a vanilla process must never import: the product's transport, consumer and guard,
# its lifecycle hooks and recorder, and the app that installs them.
AGENTQ_MODULES = ("workers.broker", "workers.recording", "workers.app", "workers.celeryconfig")


def agentq_imports(importtime_log: str) -> list[str]:
    """Product modules named in ``python -X importtime`` output (``... | module``)."""
    found = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name.startswith(AGENTQ_MODULES):
                found.add(name)
    return sorted(found)


def kombu_connection(url: str) -> Connection:
    """A connection through kombu's own Redis transport, whatever ``redis://`` means in
    this process (workers.app, once configured, makes it ours): to control vanilla
    workers, whose binding keys are kombu's."""
    return Connection(url, transport=kombu_redis.Transport)


def _event_types(body: Any) -> list[str]:
    events = body if isinstance(body, list) else [body]  # task.multi: a buffered batch
    return [str(e.get("type")) for e in events if isinstance(e, dict)]


class EventCounter:
    """Counts Celery events published on the broker (kombu's Redis fanout: PUBLISH on
    ``/<db>.celeryev/<routing key>``) on the client's DB, by type, from a thread; like
    Flower, a subscriber."""

    def __init__(self, client: redis.Redis) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        # Pub/sub channels are global to the server, not per DB: kombu's fanout prefix
        # "/<db>." keeps other DBs' workers (other benchmarks, test suites) out of the count.
        db = client.connection_pool.connection_kwargs.get("db", 0)
        self._pubsub.psubscribe(f"/{db}.celeryev/*")
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-counter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._pubsub.get_message(timeout=0.2)
            if msg is None:
                continue
            try:
                envelope = json.loads(msg["data"])
                raw = envelope["body"]
                if envelope.get("properties", {}).get("body_encoding") == "base64":
                    raw = base64.b64decode(raw)
                self.counts.update(_event_types(json.loads(raw)))
            except (ValueError, KeyError, TypeError):
                self.counts["<unreadable>"] += 1

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()
        return dict(sorted(self.counts.items()))


def task_event_count(counts: dict[str, int]) -> int:
    return sum(n for kind, n in counts.items() if kind.startswith("task-"))
