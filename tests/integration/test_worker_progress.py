"""The workers' progress reports in Redis, as health reads them (real Redis).

The end-to-end side (a real worker whose pool processes are stopped) is
``tests/e2e/test_stalled_worker.py``; here each rule of ``check_progress`` on its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest
import redis

from workers.health.progress import PROGRESS_KEY, check_progress
from workers.health.report import health_row
from workers.health.verdict import verdict
from workers.settings import get_settings


@pytest.fixture
def reports(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    redis_client.delete(PROGRESS_KEY)
    yield redis_client
    redis_client.delete(PROGRESS_KEY)


def _report(r: redis.Redis, name: str, *, at: float, held: int, progress_at: float) -> None:
    body = {"at": at, "held": held, "active": 0, "progress_at": progress_at, "concurrency": 2}
    r.hset(PROGRESS_KEY, name, orjson.dumps(body))


def test_each_rule_of_a_stall(reports: redis.Redis) -> None:
    now = time.time()
    _report(reports, "busy@h", at=now, held=3, progress_at=now - 1)  # gets somewhere
    _report(reports, "idle@h", at=now, held=0, progress_at=now - 500)  # nothing to do
    _report(reports, "stuck@h", at=now, held=2, progress_at=now - 500)  # holds, no progress
    _report(reports, "silent@h", at=now - 500, held=0, progress_at=now - 500)  # loop stopped
    _report(reports, "gone@h", at=now - 500, held=5, progress_at=now - 500)  # not online
    reports.hset(PROGRESS_KEY, "garbled@h", b"{not json")
    online = ["busy@h", "idle@h", "stuck@h", "silent@h", "garbled@h", "new@h"]
    out = check_progress(get_settings().recorder_redis_url, online, 60.0)
    assert out["ok"], out
    by_worker = {s["worker"]: s["why"] for s in out["stalled"]}
    assert set(by_worker) == {"stuck@h", "silent@h"}, out
    assert by_worker["stuck@h"].startswith("holds 2 messages, no task started or finished for")
    assert by_worker["silent@h"].startswith("no report for")
    assert set(out["workers"]) == {"busy@h", "idle@h", "stuck@h", "silent@h"}

    components = {"workers": {"ok": True, "online": 6, "stalled": out["stalled"]}}
    status, reasons = verdict(components)
    assert status == "unhealthy"
    # beat's system_health row counts them as critical issues
    row = health_row({"status": status, "reasons": reasons, "components": components})
    assert row["critical_issues"] == 2 and row["details"]["reasons"] == reasons
    assert [r.split(":", 1)[0] for r in reasons] == [
        "worker stuck@h stalled",
        "worker silent@h stalled",
    ]


def test_an_unreachable_redis_is_reported_not_raised() -> None:
    out = check_progress("redis://127.0.0.1:1/0", ["a@h"], 60.0)
    assert out["ok"] is False and out["stalled"] == [] and out["error"], out
