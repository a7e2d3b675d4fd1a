"""``agentq metrics`` at 80 columns: every column readable, each agent listed once."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from tasks.registry import AGENT_TYPES
from workers.cli.metrics import print_table

START = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def _row(agent_type: str, agent_id: str | None, minute: int) -> dict[str, Any]:
    return {
        "period_start": START + timedelta(minutes=minute),
        "period_duration_minutes": 1,
        "agent_type": agent_type,
        "agent_id": agent_id,
        "total_tasks": 1234,
        "tasks_completed": 1200,
        "tasks_failed": 30,
        "tasks_cancelled": 4,
        "success_rate": 97.25,
        "average_execution_time": 12.345,
        "p95_execution_time": 123.456,
        "tasks_per_minute": 1234.0,
        "average_quality_score": 0.875,
    }


def _rows() -> list[dict[str, Any]]:
    # As get_agent_metrics returns them with one worker: per instance and per type.
    rows = []
    for t in AGENT_TYPES:
        rows += [_row(t, f"{t}@demo-1a2b3c4d@host", 0), _row(t, None, 0)]
    return rows


def _render(width: int, **kw: Any) -> list[str]:
    out = io.StringIO()
    print_table(_rows(), Console(file=out, width=width, color_system=None), **kw)
    return [line.strip() for line in out.getvalue().splitlines()]


def test_80_columns_every_column_readable_each_agent_once() -> None:
    lines = _render(80)
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if line.startswith("period"))
    for name in ("period", "agent", "tasks", "ok", "failed", "ok %", "avg s", "p95 s"):
        assert name in header, (name, header)
    body = [line for line in lines if line.startswith("14:00")]
    assert len(body) == len(AGENT_TYPES)  # once each: the per-type row
    for t in AGENT_TYPES:
        (line,) = [b for b in body if f" {t} " in b]  # whole name, on one line
        # Every value whole: no "…" and none cut to a few characters.
        assert "…" not in line
        assert line.split()[2:] == ["1234", "1200", "30", "97", "12.35", "123.46"], line


def test_instances_on_request_and_more_columns_when_wide() -> None:
    lines = _render(140, instances=True)
    body = [line for line in lines if line.startswith("14:00")]
    assert len(body) == len(AGENT_TYPES)
    assert all("@demo-1a2b3c4d@host" in line for line in body)
    header = next(line for line in lines if line.startswith("period"))
    assert "cancelled" in header and "quality" in header
