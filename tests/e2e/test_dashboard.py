"""The Grafana dashboard (deploy/grafana/agentq.json) against real data: a real worker
runs tasks (some succeed, some fail, one poison message is set aside) while the realtime
bridge (``agentq realtime``, into a real soketi) pushes their changes, a real Prometheus
scrapes a real ``agentq serve`` and evaluates deploy/prometheus/alerts.yml (the soak's
:class:`workers.soak.monitoring.Monitoring`, which also runs Alertmanager), and every
panel's query — every target, the template variable and the alert annotation — must
return series. Grafana does not run here: its variables are substituted the way it would
(``$agent_type`` = All, ``$__rate_interval`` = a window of several scrapes).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.conftest import send_test_task, wait_terminal
from tests.support.bridge import BridgeProcess
from tests.support.soketi import SoketiServer, require_soketi
from tests.support.workers import ROOT, WorkerProcess, wait_for
from workers.settings import get_settings
from workers.soak.monitoring import Monitoring

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed"),
]

DASHBOARD = ROOT / "deploy" / "grafana" / "agentq.json"
# What Grafana puts in place of the dashboard's variables (All agent types; a rate window
# of many scrapes, as $__rate_interval is at least four scrape intervals).
VARIABLES = {"$agent_type": ".*", "$__rate_interval": "1m", "${datasource}": "prometheus"}


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every target of every panel, the variables and annotations."""
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((f"panel {panel['title']!r} target {target['refId']}", target["expr"]))
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", var["definition"]))
    for ann in dashboard["annotations"]["list"]:
        out.append((f"annotation {ann['name']!r}", ann["expr"]))
    return out


def substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a variable the test does not know: {expr}"
    return expr


def label_values(expr: str) -> tuple[str, str] | None:
    """``label_values(metric, label)``: Grafana's variable query, not PromQL."""
    m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", expr)
    return (m[1], m[2]) if m else None


def answers(mon: Monitoring, expr: str) -> bool:
    if lv := label_values(expr):
        q = urllib.parse.urlencode({"match[]": lv[0]})
        with urllib.request.urlopen(f"{mon.prometheus}/api/v1/label/{lv[1]}/values?{q}") as r:
            return bool(json.loads(r.read())["data"])
    return bool(mon.query(substitute(expr)))


@pytest.fixture
def bridge(clean: str) -> Iterator[BridgeProcess]:
    """The realtime bridge into a real soketi: it reports its lag and breaker."""
    require_soketi()
    soketi = SoketiServer().start(timeout=120)
    try:
        bridge = BridgeProcess(soketi.env).start()
        try:
            yield bridge
        finally:
            bridge.stop()
    finally:
        soketi.stop()


@pytest.fixture
def monitoring(clean: str) -> Iterator[Monitoring]:
    workdir = Path(tempfile.mkdtemp(prefix="agentq-dashboard-"))
    mon = Monitoring(workdir, {})
    try:
        mon.start()
        yield mon
    finally:
        mon.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_every_panel_of_the_dashboard_returns_series(
    bridge: BridgeProcess, monitoring: Monitoring
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    with WorkerProcess("dashboard", concurrency=2):
        ids = [send_test_task("noop") for _ in range(6)]
        ids += [send_test_task("boom") for _ in range(3)]
        # One poison message: the worker sets it aside (dead letters rise, an alert fires).
        redis.Redis.from_url(get_settings().broker_url).lpush("content_generator", b"not json")
        for task_id in ids:
            wait_terminal(task_id, timeout=60)
        todo = dict(queries(dashboard))
        assert len(todo) >= 20, todo

        def all_answered() -> bool:
            for where, expr in list(todo.items()):
                if answers(monitoring, expr):
                    del todo[where]
            return not todo

        try:
            # Counters need two scrapes inside a window, alerts their (scaled) for:.
            wait_for(all_answered, 150, 2.0, what="every panel to return series")
        except AssertionError:
            pytest.fail(
                "panels whose query returns no series:\n"
                + "\n".join(f"  {w}: {e}" for w, e in todo.items())
            )
