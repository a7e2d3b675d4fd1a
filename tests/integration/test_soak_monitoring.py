"""The soak's monitoring (``agentq soak --alerts``, :mod:`workers.soak.monitoring`) with
real servers: Prometheus scrapes a real ``agentq serve`` whose PostgreSQL (a throwaway
server) the test stops and starts; the database alert fires while it is down, Alertmanager
delivers it firing and resolved to the webhook receiver, and the recorded timeline gives
the alert verdict the outage."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from persistence.migration_service import MigrationService
from tests.support.servers import PostgresServer
from tests.support.workers import wait_for
from workers.soak.alert_verdict import Window
from workers.soak.monitoring import STEP, Monitoring

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed"),
]


@pytest.fixture
def outage_db() -> Iterator[tuple[PostgresServer, str]]:
    srv = PostgresServer()
    try:
        srv.start()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{srv.port}/agentq_monitoring"
        MigrationService(url).run_migrations()
        yield srv, url
    finally:
        srv.destroy()


def test_an_outage_fires_is_delivered_resolves_and_is_judged(
    outage_db: tuple[PostgresServer, str], clean: str
) -> None:
    srv, url = outage_db
    workdir = Path(tempfile.mkdtemp(prefix="agentq-soak-monitoring-"))
    mon = Monitoring(workdir, {"DATABASE_URL": url})
    try:
        mon.start()
        t0 = time.time()
        wait_for(lambda: mon.query('agentq_up{source="database"} == 1'), 60, 0.5, "database up")
        assert mon.firing_now() == set()
        down_at = time.time()
        srv.stop("fast")
        try:
            wait_for(
                lambda: "AgentqDatabaseUnavailable" in mon.raised(),
                90,
                0.5,
                "AgentqDatabaseUnavailable to fire and reach the receiver",
            )
        finally:
            srv.start()
        up_at = time.time()
        wait_for(lambda: not mon.firing_now(), 90, 0.5, "every alert to resolve")
        wait_for(
            lambda: mon.delivered().get("AgentqDatabaseUnavailable") == ["firing", "resolved"],
            60,
            0.5,
            "Alertmanager to deliver the alert firing and resolved",
        )
        fault = Window("postgres_down", down_at - t0, up_at - t0)
        verdict, detail = mon.verdict([fault], t0)
        assert verdict.raised == {"postgres_down": ["AgentqDatabaseUnavailable"]}
        # Ten seconds down: the recording lag alerts rightly stay quiet, and the verdict
        # says so (the soak keeps the outage on until they fire).
        assert len(verdict.missing) == 1 and "AgentqRecordingLagHigh" in verdict.missing[0]
        assert verdict.still_firing == [] and verdict.unknown == []
        stretches = [f for f in detail["timeline"] if f["alert"] == "AgentqDatabaseUnavailable"]
        assert len(stretches) == 1 and stretches[0]["end"] is not None
        # It began during the outage (the timeline's samples fall on a grid of one step).
        assert fault.start <= stretches[0]["start"] <= fault.end + STEP
    finally:
        mon.stop()
        shutil.rmtree(workdir, ignore_errors=True)
