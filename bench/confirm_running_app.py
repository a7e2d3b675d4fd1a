"""The product's Celery app with the worker confirming ``running`` too (lever (w)).

``bench_recording``'s variant (w) is (b) as it was before issue 21: in a worker every
XADD waited for Redis's reply (``AGENTQ_EVENTS_CONFIRM=auto`` meant ``each`` there), where
now only a task's last event waits (``final``: ``workers/recording/signals.py``). The
producer is unchanged (``deferred``).
"""

from __future__ import annotations

from workers.app import app
from workers.recording import signals
from workers.settings import Settings

_current = signals._confirm_mode


def _running_confirmed(s: Settings) -> str:
    mode = _current(s)
    return "each" if mode == "final" else mode


signals._confirm_mode = _running_confirmed

__all__ = ["app"]
