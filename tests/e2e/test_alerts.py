"""The alert rules end to end: a real Prometheus and a real Alertmanager (throwaway, free
ports, own data directories) scrape a real ``agentq serve`` beside a real worker on a
throwaway PostgreSQL, and deliver to a webhook receiver in this test.

* PostgreSQL stopped → ``AgentqDatabaseUnavailable`` reaches the receiver; started again
  → its ``resolved`` reaches it.
* The only worker killed → ``AgentqNoWorkerForQueue`` for its queues.
* Tasks that fail (and none that succeed) → ``AgentqErrorRateHigh``, the burn-rate alert,
  on the counters the recorders keep (``agentq_tasks_total``).

The rules are ``deploy/prometheus/alerts.yml`` with every ``for:`` scaled by
``FOR_SCALE`` (the documented way, ``workers/alerts/render.py``); scrape every 2 s,
evaluate every 1 s. Every wait polls with a generous deadline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from persistence.migration_service import MigrationService
from tests.e2e.conftest import instance, private_events_stream, send_test_task
from tests.support.served import Served
from tests.support.servers import PostgresServer
from tests.support.workers import WorkerProcess, wait_for
from workers.alerts.receiver import WebhookReceiver
from workers.alerts.stack import Alertmanager, Prometheus
from workers.routing import queue_name

# Its own timeout (the suite's is 180 s): start-up, then up to two 120 s waits for alerts.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

FOR_SCALE = 0.1  # 1m -> 6 s, 2m -> 12 s
DEADLINE = 120.0  # for an alert to reach the receiver (needs well under 30 s when idle)


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = [t for t in ("prometheus", "prometheus-alertmanager") if not shutil.which(t)]
    if missing:
        msg = f"{', '.join(missing)} not installed (apt-get install {' '.join(missing)})"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@dataclass
class Fleet:
    pg: PostgresServer
    url: str
    worker: WorkerProcess
    served: Served
    receiver: WebhookReceiver
    alertmanager: Alertmanager
    prometheus: Prometheus

    def dump(self) -> None:
        for name, text in (
            ("worker", self.worker.output()),
            ("agentq serve", self.served.output()),
            ("prometheus", self.prometheus.output()),
            ("alertmanager", self.alertmanager.output()),
            ("receiver", repr(self.receiver.notifications())),
        ):
            print(f"----- {name} -----\n{text[-5000:]}")


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis) -> Iterator[Fleet]:
    """Everything started, in order, each torn down on the way out even when a later
    start (or the test) fails."""
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(private_events_stream(monkeypatch, redis_client, "alerts"))
        pg = PostgresServer()
        stack.callback(pg.destroy)
        pg.start()
        url = f"postgresql://postgres@127.0.0.1:{pg.port}/agentq_alerts"
        MigrationService(url.replace("postgresql://", "postgresql+psycopg://")).run_migrations()
        env = {"DATABASE_URL": url, "AGENTQ_EVENTS_STREAM": stream}

        worker = WorkerProcess("alerts", concurrency=1, env=env)
        stack.callback(worker.kill)
        worker.start()
        agent_id = f"content_generator@{worker.hostname}"
        wait_for(lambda: instance(url, agent_id), 30, what="the worker's agent instances")

        # A heartbeat older than 5 s is offline: the killed worker leaves the queue soon.
        served = Served({**env, "AGENTQ_STALE_AGENT_SECONDS": "5"})
        stack.callback(served.stop)
        receiver = WebhookReceiver().start()
        stack.callback(receiver.stop)
        alertmanager = Alertmanager(receiver.url)
        stack.callback(alertmanager.destroy)
        alertmanager.start()
        prometheus = Prometheus(
            [f"127.0.0.1:{served.port}"],
            f"127.0.0.1:{alertmanager.port}",
            for_scale=FOR_SCALE,
        )
        stack.callback(prometheus.destroy)
        prometheus.start()
        fleet = Fleet(pg, url, worker, served, receiver, alertmanager, prometheus)
        try:
            yield fleet
        except BaseException:
            fleet.dump()
            raise


def scraped(prometheus: Prometheus, expr: str) -> list[dict[str, Any]]:
    """Poll ``expr`` until Prometheus has a series for it."""
    return wait_for(lambda: prometheus.query(expr), 60, 0.5, what=f"Prometheus to see {expr}")


def test_database_down_fires_and_up_again_resolves(fleet: Fleet) -> None:
    name = "AgentqDatabaseUnavailable"
    scraped(fleet.prometheus, 'agentq_up{job="agentq",source="database"} == 1')
    assert not fleet.receiver.alerts(name, "firing")

    fleet.pg.stop("fast")
    firing = wait_for(
        lambda: fleet.receiver.alerts(name, "firing"), DEADLINE, 0.5, what=f"{name} firing"
    )
    alert = firing[0]
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["source"] == "database"
    assert alert["labels"]["instance"] == f"127.0.0.1:{fleet.served.port}"
    assert alert["annotations"]["runbook_url"] == "docs/observability.md#agentqdatabaseunavailable"
    assert not fleet.receiver.alerts(name, "resolved")

    fleet.pg.start()
    resolved = wait_for(
        lambda: fleet.receiver.alerts(name, "resolved"), DEADLINE, 0.5, what=f"{name} resolved"
    )
    assert resolved[0]["startsAt"] == alert["startsAt"]  # the same alert, now over
    assert resolved[0]["endsAt"] > alert["startsAt"]
    scraped(fleet.prometheus, 'agentq_up{job="agentq",source="database"} == 1')


def test_killing_the_only_worker_fires_no_worker_for_queue(fleet: Fleet) -> None:
    name = "AgentqNoWorkerForQueue"
    queue = queue_name("content_generator")
    scraped(fleet.prometheus, f'agentq_queue_consumers{{queue="{queue}"}} >= 1')
    assert not fleet.receiver.alerts(name, "firing")

    fleet.worker.kill()  # SIGKILL, no goodbye: only its heartbeat going stale tells
    firing = wait_for(
        lambda: fleet.receiver.alerts(name, "firing", queue=queue),
        DEADLINE,
        0.5,
        what=f"{name} firing for {queue}",
    )
    alert = firing[0]
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["runbook_url"] == "docs/observability.md#agentqnoworkerforqueue"
    assert queue in alert["annotations"]["summary"]
    # The database stayed up all along: no other source alert was raised meanwhile.
    assert not fleet.receiver.alerts("AgentqDatabaseUnavailable", "firing")


def test_failing_tasks_burn_the_error_budget(fleet: Fleet) -> None:
    name = "AgentqErrorRateHigh"
    failed = 'agentq_tasks_total{agent_type="content_generator",state="failed"}'
    # The zero is scraped before the failures, so rate() sees them.
    scraped(fleet.prometheus, f"{failed} == 0")
    assert not fleet.receiver.alerts(name, "firing")

    for _ in range(3):
        send_test_task("boom")
    scraped(fleet.prometheus, f"{failed} == 3")  # counted once each, by the recorder
    firing = wait_for(
        lambda: fleet.receiver.alerts(
            name, "firing", agent_type="content_generator", burn_window="1h"
        ),
        DEADLINE,
        0.5,
        what=f"{name} (1h / 5m windows) firing for content_generator",
    )
    alert = firing[0]
    assert alert["labels"]["severity"] == "critical"
    assert "100%" in alert["annotations"]["description"]  # every finished task failed
    assert alert["annotations"]["runbook_url"] == "docs/observability.md#agentqerrorratehigh"
    # Only the agent type that failed burns its budget.
    assert {a["labels"]["agent_type"] for a in fleet.receiver.alerts(name, "firing")} == {
        "content_generator"
    }
