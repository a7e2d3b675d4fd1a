"""The alert rules, checked and unit-tested by Prometheus' own tools: ``promtool check
rules`` / ``check config``, ``amtool check-config``, and ``promtool test rules`` on
``deploy/prometheus/tests/*.yml``. Plus what promtool cannot see: every alert has a test
where it fires and one where it stays quiet, a runbook section, a severity the example
route knows, and reads only metrics of the documented contract.

Without promtool / amtool the tests skip, except under CI (``.ci/run`` installs them),
where a missing tool fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.alerts.render import render

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "alerts.yml"
TESTS = sorted((PROM / "tests").glob("*.yml"))
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
DOC = ROOT / "docs" / "observability.md"

# The alerts issue 22 asks for, at least.
REQUIRED = {
    "AgentqDatabaseUnavailable",
    "AgentqSupabaseUnavailable",
    "AgentqBrokerUnavailable",
    "AgentqNoWorkerForQueue",
    "AgentqWorkerStalled",
    "AgentqRecordingLagHigh",
    "AgentqRecordingStalled",
    "AgentqErrorRateHigh",
    "AgentqQueueWaitHigh",
    "AgentqDeadLettersRising",
    "AgentqMirrorBacklogGrowing",
    "AgentqSchemaDrift",
    "AgentqRealtimeLagHigh",
}
# The metric names of docs/observability.md's contract (base names of histograms).
CONTRACT = {
    "up",
    "agentq_up",
    "agentq_executions",
    "agentq_recording_backlog",
    "agentq_recording_lag_seconds",
    "agentq_dead_letters",
    "agentq_poison_messages_total",
    "agentq_queue_depth",
    "agentq_mirror_backlog",
    "agentq_agent_instances_online",
    "agentq_scrape_duration_seconds",
    "agentq_tasks_total",
    "agentq_task_runtime_seconds",
    "agentq_task_queue_wait_seconds",
    "agentq_worker_up",
    "agentq_worker_tasks_active",
    "agentq_worker_stalled",
    "agentq_worker_lost",
    "agentq_queue_consumers",
    "agentq_realtime_lag_seconds",
    "agentq_realtime_breaker_open",
    "agentq_schema_drift",
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        msg = f"{name} not installed (apt-get install prometheus prometheus-alertmanager)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


# --- Prometheus' own tools ------------------------------------------------------------
def test_promtool_check_rules() -> None:
    out = run(tool("promtool"), "check", "rules", str(RULES))
    assert f"SUCCESS: {len(rules())} rules found" in out.stdout


def test_promtool_check_config_and_its_rule_files() -> None:
    out = run(tool("promtool"), "check", "config", str(PROM / "prometheus.yml"))
    assert "SUCCESS" in out.stdout and "alerts.yml" in out.stdout


def test_amtool_check_config() -> None:
    out = run(tool("amtool"), "check-config", str(ALERTMANAGER))
    assert "SUCCESS" in out.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    assert TESTS
    out = run(tool("promtool"), "test", "rules", *map(str, TESTS))
    assert "FAILED" not in out.stdout + out.stderr


def test_scaled_rules_are_valid_and_only_for_changes(tmp_path: Path) -> None:
    scaled = tmp_path / "alerts.yml"
    scaled.write_text(render(0.05))
    run(tool("promtool"), "check", "rules", str(scaled))
    before = yaml.safe_load(RULES.read_text())["groups"]
    after = yaml.safe_load(scaled.read_text())["groups"]
    for old_group, new_group in zip(before, after, strict=True):
        for old, new in zip(old_group["rules"], new_group["rules"], strict=True):
            if "for" in old:
                assert new.pop("for") == f"{round(_ms(old.pop('for')) * 0.05)}ms"
            assert new == old


def _ms(duration: str) -> int:
    units = {"h": 3_600_000, "m": 60_000, "s": 1000}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


# --- what promtool does not check -----------------------------------------------------
def test_the_issue_s_alerts_are_all_there() -> None:
    assert not REQUIRED - {a["alert"] for a in alerts()}


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_does_not() -> None:
    fired: dict[str, int] = defaultdict(int)
    quiet: dict[str, int] = defaultdict(int)
    for path in TESTS:
        doc = yaml.safe_load(path.read_text())
        assert doc["rule_files"] == ["../alerts.yml"], path
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet)[check["alertname"]] += 1
    names = {a["alert"] for a in alerts()}
    assert not names - set(fired), f"alerts never shown firing: {sorted(names - set(fired))}"
    assert not names - set(quiet), f"alerts never shown quiet: {sorted(names - set(quiet))}"
    assert not (set(fired) | set(quiet)) - names, "tests of alerts that do not exist"


def test_the_error_rate_alert_is_a_multiwindow_burn_rate() -> None:
    exprs = [a["expr"] for a in alerts() if a["alert"] == "AgentqErrorRateHigh"]
    windows = [sorted(re.findall(r"rate(\d+[mh])", e)) for e in exprs]
    assert sorted(windows) == [["1h", "5m"], ["30m", "6h"]]
    assert any("14.4 * 0.01" in e for e in exprs) and any("6 * 0.01" in e for e in exprs)


def test_every_alert_has_a_severity_routed_and_a_runbook_section() -> None:
    route = yaml.safe_load(ALERTMANAGER.read_text())["route"]
    routed = {m.split("=")[1].strip('"') for r in route["routes"] for m in r["matchers"]}
    headings = set(re.findall(r"^### (Agentq\w+)$", DOC.read_text(), flags=re.M))
    for alert in alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in routed, name
        assert alert["annotations"]["runbook_url"] == f"docs/observability.md#{name.lower()}"
        assert name in headings, f"docs/observability.md has no runbook section for {name}"
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], name


def test_rules_read_only_contract_metrics() -> None:
    recorded = {r["record"] for r in rules() if "record" in r}
    used: set[str] = set()
    for rule in rules():
        found = re.findall(r"\b([a-z_][a-z0-9_:]*)\s*(?:\{|\[|\)| ==| >)", rule["expr"])
        metrics = [m for m in found if m.startswith(("agentq", "up"))]
        used |= {re.sub(r"_(bucket|sum|count)$", "", m) for m in metrics}
    assert used - recorded <= CONTRACT, sorted(used - recorded - CONTRACT)
