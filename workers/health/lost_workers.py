"""Workers that stopped without a warm shutdown: their progress report is left behind.

A worker's main process writes its progress report (``workers/health/progress.py``)
every ``AGENTQ_HEARTBEAT_SECONDS`` and removes it at a warm shutdown. A report older than
the reaper's ``AGENTQ_STALE_AGENT_SECONDS`` therefore belongs to a worker that was
killed, lost its host or its network, or whose event loop stopped. This is read from
Redis alone, so it is seen while PostgreSQL is down — the instance heartbeats, and with
them "online" and "stalled", are not. Reports older than :data:`FORGET_AFTER_SECONDS`
are forgotten (the reaper deletes them), so a worker that never comes back stops being
reported, and the hash does not grow with every host a fleet has ever had. Times are the
hosts' clocks, as for the stall check.
"""

from __future__ import annotations

from typing import Any

from workers.health.progress import PROGRESS_KEY, read_reports

# A quarter of an hour: long enough for the alert's ``for:`` and an operator to look;
# a worker gone longer is history (its executions were failed over by the reaper).
FORGET_AFTER_SECONDS = 900.0


def _report_age(report: dict[str, Any], now: float) -> float | None:
    try:
        return now - float(report.get("at") or 0)
    except (TypeError, ValueError):
        return None


def lost_workers(
    reports: dict[str, dict[str, Any]],
    now: float,
    lost_after_s: float,
    forget_after_s: float = FORGET_AFTER_SECONDS,
) -> dict[str, float]:
    """Worker -> seconds since its last report, for reports older than ``lost_after_s``
    and not older than ``forget_after_s``."""
    out: dict[str, float] = {}
    for name, report in reports.items():
        age = _report_age(report, now)
        if age is not None and lost_after_s < age <= forget_after_s:
            out[name] = round(age, 1)
    return out


def forget_old_reports(client: Any, now: float, after_s: float = FORGET_AFTER_SECONDS) -> int:
    """Delete the reports older than ``after_s`` (or whose time cannot be read); how many.

    A worker that reports again between the read and the delete loses one report; it
    writes the next one within a heartbeat."""
    old = [
        name
        for name, report in read_reports(client).items()
        if (age := _report_age(report, now)) is None or age > after_s
    ]
    if old:
        client.hdel(PROGRESS_KEY, *old)
    return len(old)
