"""Is each worker getting anywhere? Its main process says so in Redis; health reads it.

A worker can be online (its recorder writes the instance heartbeat from a process of its
own) and still run nothing: its pool out of slots, its pool processes stopped, its
event loop stuck. What it holds then waits in ``unacked`` until the visibility timeout,
and nothing in the database shows it. So the worker's main process reports, from
Celery's timer in its event loop (:class:`ProgressStep`, every
``AGENTQ_HEARTBEAT_SECONDS``), one field of the hash ``agentq:workers:progress`` on the
recording Redis: its hostname → ``{"at", "held", "active", "progress_at", "concurrency"}``:

* ``held`` — the requests it has reserved and not finished: messages it holds
  unacknowledged (tasks waiting for their ETA are not counted until it is due);
* ``active`` — of those, the ones a pool process has accepted;
* ``progress_at`` — when a pool process last accepted a job or a held request last left
  (finished, set aside, revoked).

:func:`check_progress` calls an online worker **stalled** (health: unhealthy, naming it)
when it holds messages and made no progress for ``AGENTQ_WORKER_STALL_SECONDS``, or
when its report itself is that old (its event loop does not run). The period must be
longer than the longest task's hard time limit: a task that runs is progress only when
it ends. At a warm shutdown the worker removes its field. Times are the hosts' clocks.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from celery import bootsteps
from celery.worker import state as worker_state

from persistence.formatting import one_line

logger = logging.getLogger(__name__)

PROGRESS_KEY = "agentq:workers:progress"


class Progress:
    """What the worker's main process knows: held and active requests, last progress."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.progress_at = time.time()
        self._accepted = worker_state.all_total_count[0]
        self._held: set[str] = set()

    def sample(self) -> dict[str, Any]:
        held = {r.id for r in list(worker_state.reserved_requests)}
        accepted = worker_state.all_total_count[0]
        if accepted != self._accepted or self._held - held:  # accepted, or one left
            self.progress_at = time.time()
        self._accepted, self._held = accepted, held
        return {
            "at": round(time.time(), 3),
            "held": len(held),
            "active": len(worker_state.active_requests),
            "progress_at": round(self.progress_at, 3),
            "concurrency": self.concurrency,
        }


class ProgressStep(bootsteps.StartStopStep):
    label = "agentq progress report"
    requires = ("celery.worker.components:Timer", "celery.worker.components:Pool")

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._client: Any = None
        self._timer: Any = None

    def start(self, worker: Any) -> None:
        from workers.health.checks import _redis
        from workers.settings import get_settings

        settings = get_settings()
        self._client = _redis(settings.recorder_redis_url)
        progress = Progress(int(worker.concurrency or 0))
        name = str(worker.hostname)

        def report() -> None:
            try:
                self._client.hset(PROGRESS_KEY, name, orjson.dumps(progress.sample()))
            except Exception as exc:  # Redis away: health sees the report age instead
                logger.warning("progress report not written: %s", one_line(exc))

        report()
        self._timer = worker.timer.call_repeatedly(settings.heartbeat_seconds, report)

    def stop(self, worker: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._client is not None:
            try:
                self._client.hdel(PROGRESS_KEY, str(worker.hostname))
            except Exception as exc:
                logger.warning("progress report not removed: %s", one_line(exc))
            self._client.close()
            self._client = None

    def terminate(self, worker: Any) -> None:  # a cold shutdown: the same
        self.stop(worker)


def read_reports(client: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for k, v in client.hgetall(PROGRESS_KEY).items():
        try:
            report = orjson.loads(v)
        except orjson.JSONDecodeError:
            continue
        if isinstance(report, dict):
            out[k.decode() if isinstance(k, bytes) else str(k)] = report
    return out


def check_progress(url: str, online_workers: list[str], stall_s: float) -> dict[str, Any]:
    """The online workers' reports and which of them are stalled (never raises)."""
    from workers.health.checks import _redis, _secrets

    out: dict[str, Any] = {"stall_after_seconds": stall_s, "stalled": []}
    client = _redis(url)
    try:
        reports = read_reports(client)
    except Exception as exc:
        return {**out, "ok": False, "error": one_line(exc, secrets=_secrets(url))}
    finally:
        client.close()
    now = time.time()
    out["workers"] = {}
    for name in online_workers:
        report = reports.get(name)
        if report is None:
            continue  # not reporting (yet, or an older version)
        age = round(now - float(report.get("at") or 0), 1)
        idle = round(now - float(report.get("progress_at") or 0), 1)
        held = int(report.get("held") or 0)
        out["workers"][name] = {**report, "report_age_seconds": age, "idle_seconds": idle}
        if age > stall_s:
            out["stalled"].append({"worker": name, "why": f"no report for {age:.0f} s"})
        elif held and idle > stall_s:
            why = f"holds {held} messages, no task started or finished for {idle:.0f} s"
            out["stalled"].append({"worker": name, "why": why})
    return {**out, "ok": True}
