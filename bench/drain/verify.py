"""Correctness of a drain: nothing lost, nothing twice, every row in its final state."""

from __future__ import annotations

from typing import Any

import psycopg
import redis

from bench.drain.traffic import STREAM, Traffic
from workers.recording.recorder import GROUP

_COUNTS = """
SELECT (SELECT count(*) FROM agent_execution_events),
       (SELECT count(*) FROM agent_executions),
       (SELECT COALESCE(sum(total_tasks_completed), 0) FROM agent_instances),
       (SELECT COALESCE(sum(total_tasks_failed), 0) FROM agent_instances)
"""


def counts(url: str) -> tuple[int, int, int, int]:
    """(history rows, executions, instances' completed, instances' failed)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(_COUNTS).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def check(
    url: str,
    r: redis.Redis,
    traffic: Traffic,
    before: tuple[int, int, int, int],
    stats: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[str]]:
    """The figures of the checks, and one line per check that failed (empty: all good)."""
    n = len(traffic.expected)
    after = counts(url)
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TEMP TABLE expected (task_id text PRIMARY KEY, status task_status,"
            " retry_count int, attempts int)"
        )
        with conn.cursor().copy("COPY expected FROM STDIN") as cp:
            for task in traffic.expected:
                cp.write_row(task)
        row = conn.execute(
            "SELECT (SELECT count(*) FROM agent_execution_events JOIN expected USING (task_id)),"
            " (SELECT count(*) FROM agent_executions a JOIN expected x USING (task_id)"
            "   WHERE a.status = x.status AND a.retry_count = x.retry_count"
            "   AND a.attempts = x.attempts AND a.completed_at IS NOT NULL),"
            " (SELECT count(*) FROM agent_instances"
            "   WHERE status <> 'idle' OR current_task_id IS NOT NULL)"
        ).fetchone()
    assert row is not None
    run_events, final_rows, busy = (int(v) for v in row)
    pending = r.xpending(STREAM, GROUP)["pending"]
    terminal = traffic.terminal
    figures = {
        "history_rows_added": after[0] - before[0],
        "history_rows_of_the_run": run_events,
        "events_sent": traffic.transitions,
        "executions_added": after[1] - before[1],
        "executions_in_final_state": final_rows,
        "tasks": n,
        "instances_completed_added": after[2] - before[2],
        "instances_failed_added": after[3] - before[3],
        "instances_not_idle": busy,
        "recorded_new_events": sum(s["new_events"] for s in stats),
        "recorded_entries": sum(s["entries"] for s in stats),
        "entries_sent": len(traffic.entries),
        "dead_letters": sum(s["dead_letters"] for s in stats) + r.xlen(STREAM + ":dead"),
        "db_errors": sum(s["db_errors"] for s in stats),
        "stream_left": r.xlen(STREAM) + int(pending),
    }
    f = figures
    rules = [
        (f["history_rows_added"] == f["events_sent"], "history rows added != events sent"),
        (f["history_rows_of_the_run"] == f["events_sent"], "history rows of the run's tasks"),
        (f["executions_added"] == n, "executions added != tasks"),
        (f["executions_in_final_state"] == n, "executions not in their final state"),
        (f["instances_completed_added"] == terminal["completed"], "instances' completed count"),
        (f["instances_failed_added"] == terminal["failed"], "instances' failed count"),
        (f["instances_not_idle"] == 0, "instances left busy"),
        (f["recorded_new_events"] == f["events_sent"], "recorders' new events != events sent"),
        (f["recorded_entries"] == f["entries_sent"], "entries handled != entries sent"),
        (f["dead_letters"] == 0, "dead letters"),
        (f["stream_left"] == 0, "entries left in the stream"),
    ]
    return figures, [msg for ok, msg in rules if not ok]
