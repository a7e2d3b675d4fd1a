"""``workers.alerts.render``: the one way tests and the soak shorten the alerts' ``for:``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from workers.alerts.render import RULES_FILE, parse_duration, render, scale_rules

RULE = """\
groups:
  - name: g
    rules:
      - alert: A   # for: in a comment is left alone
        expr: rate(x[5m]) > 1
        for: 1h30m  # trailing comment
        labels:
          severity: warning
      - alert: B
        expr: y == 0
        for: '90s'
"""


@pytest.mark.parametrize(
    ("text", "ms"),
    [("250ms", 250), ("90s", 90_000), ("1m", 60_000), ("1h30m", 5_400_000), ("2d", 172_800_000)],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("bad", ["", "5", "m", "5x", "1m 5s", "-1m", "1.5m"])
def test_parse_duration_rejects_what_prometheus_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        parse_duration(bad)


def test_only_for_lines_change_and_comments_survive() -> None:
    out = scale_rules(RULE, 0.01)
    assert out == RULE.replace("for: 1h30m", "for: 54000ms").replace("for: '90s'", "for: 900ms")


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_a_scale_that_is_not_a_positive_number_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="for-scale must be a number above 0"):
        scale_rules(RULE, scale)


def test_the_fleet_rules_scale_every_for() -> None:
    production = re.findall(r"^\s*for: (\S+)", RULES_FILE.read_text(), flags=re.M)
    scaled = re.findall(r"^\s*for: (\S+)", render(0.1), flags=re.M)
    assert production and len(scaled) == len(production)
    assert [parse_duration(s) for s in scaled] == [
        round(parse_duration(p) * 0.1) for p in production
    ]


def test_command_line() -> None:
    cmd = [sys.executable, "-m", "workers.alerts.render"]
    ok = subprocess.run([*cmd, "--for-scale", "0.5"], capture_output=True, text=True, check=True)
    assert ok.stdout == render(0.5)
    bad = subprocess.run([*cmd, "--for-scale", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "for-scale must be a number above 0" in bad.stderr
