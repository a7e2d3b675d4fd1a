"""The realtime bridge: committed changes of the three tables become Pusher events.

PostgreSQL triggers (revision 0003) NOTIFY ids of changed rows; the bridge LISTENs,
fetches the current rows, filters, coalesces, batches and triggers Pusher channels
behind a circuit breaker. Run it with ``agentq realtime``, or from Python::

    from workers.realtime import get_realtime_service
    service = get_realtime_service()
    service.start(); service.get_status(); service.stop()
"""

from __future__ import annotations

from workers.realtime.changes import Change
from workers.realtime.service import RealtimeIntegrationService, get_realtime_service

__all__ = ["Change", "RealtimeIntegrationService", "get_realtime_service"]
