"""The soak's verdict: every published task's row against what its input dictates.

* **lost** — a published task with no row, or a row not final by the deadline;
* **wrong** — final status or attempt (``retry_count``) other than expected, a completed
  task whose output is not what its agent makes of its input (the agents are
  deterministic: :func:`expected_output` runs the handler here), or a row whose state is
  not the lifecycle merge of its own history
  (the history event greatest by (attempt, status rank, time) names the row's status and
  attempt: ``persistence/lifecycle.py``);
* **duplicates** — history events that are the same transition twice (same task, status,
  attempt, worker and time under different event ids);
* **redelivered** — tasks that ran more than once at the same attempt.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg

from persistence.lifecycle import RANK, TaskStatus

TERMINAL = ("completed", "failed", "cancelled")
_RANK_SQL = (
    "CASE e.status " + " ".join(f"WHEN '{s.value}' THEN {RANK[s]}" for s in TaskStatus) + " END"
)


@dataclass
class Verdict:
    tasks: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    wrong: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    redelivered: int = 0
    lag: dict[str, float | None] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.wrong and self.duplicates == 0


def unfinished(url: str, task_ids: list[str]) -> int:
    """How many of ``task_ids`` have no final row yet."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        done = conn.execute(
            "SELECT count(*) FROM agent_executions WHERE task_id = ANY(%s) AND status = ANY(%s)",
            (task_ids, list(TERMINAL)),
        ).fetchone()
    return len(task_ids) - int(done[0] if done else 0)


def expected_output(agent_type: str, task_type: str, input_data: Any) -> Any:
    """The ``output_data`` the agent makes of this input (what a worker stores)."""
    from tasks.registry import get_spec
    from tasks.validation import validate_input

    spec = get_spec(agent_type)
    result = spec.handler(task_type, validate_input(agent_type, task_type, input_data))
    return result.output.model_dump(mode="json")


def expected_outputs(jobs_by_id: dict[str, Any]) -> dict[str, Any]:
    """Task id -> the output its agent makes of its input, for the tasks that must
    complete (computed once per distinct input: the plan repeats the examples)."""
    cache: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for task_id, sj in jobs_by_id.items():
        if sj.expected[0] != "completed":
            continue
        job = sj.job
        key = json.dumps([job.agent_type, job.task_type, job.input_data], sort_keys=True)
        if key not in cache:
            cache[key] = expected_output(job.agent_type, job.task_type, job.input_data)
        out[task_id] = cache[key]
    return out


def verify(
    url: str,
    published: dict[str, tuple[str, int]],
    skewed_worker: str | None,
    outputs: dict[str, Any] | None = None,
) -> Verdict:
    """``published``: task id -> (expected status, expected attempt); ``outputs``: task
    id -> the output a completed task must have."""
    v = Verdict(tasks=len(published))
    v.expected.update(status for status, _ in published.values())
    ids = list(published)
    with psycopg.connect(url, connect_timeout=5) as conn:
        v.rows = _rows(conn, ids)
        v.histories = _histories(conn, ids)
        heads = _merge_heads(conn, ids)
        v.duplicates = _duplicates(conn, ids)
        v.lag = _lag(conn, ids, skewed_worker)
    for task_id, (status, attempt) in published.items():
        row = v.rows.get(task_id)
        if row is None or row["status"] not in TERMINAL:
            v.lost.append(task_id)
            continue
        v.found[row["status"]] += 1
        problems = _problems(row, status, attempt, heads.get(task_id))
        want = (outputs or {}).get(task_id)
        if row["status"] == "completed" and want is not None and row["output_data"] != want:
            problems.append("output is not what the agent makes of the input")
        if problems:
            v.wrong.append({"task_id": task_id, "problems": problems})
    v.redelivered = sum(
        1
        for history in v.histories.values()
        if max(
            Counter(h["attempt"] for h in history if h["status"] == "running").values(), default=0
        )
        > 1
    )
    return v


def _problems(
    row: dict[str, Any], status: str, attempt: int, head: tuple[str, int] | None
) -> list[str]:
    out = []
    if row["status"] != status:
        out.append(f"status {row['status']}, expected {status}")
    if row["retry_count"] != attempt:
        out.append(f"attempt {row['retry_count']}, expected {attempt}")
    if row["status"] == "completed" and row["output_data"] is None:
        out.append("completed without output")
    if head != (row["status"], row["retry_count"]):
        out.append(f"row is not the merge of its history (history says {head})")
    return out


def _rows(conn: psycopg.Connection[Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    cur = conn.execute(
        "SELECT task_id, agent_type::text, status::text, retry_count, attempts, "
        "output_data FROM agent_executions WHERE task_id = ANY(%s)",
        (ids,),
    )
    keys = ("task_id", "agent_type", "status", "retry_count", "attempts", "output_data")
    return {r[0]: dict(zip(keys, r, strict=True)) for r in cur}


def _histories(conn: psycopg.Connection[Any], ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    cur = conn.execute(
        "SELECT task_id, status::text, attempt, worker, occurred_at, detail "
        "FROM agent_execution_events WHERE task_id = ANY(%s) ORDER BY task_id, occurred_at",
        (ids,),
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for task_id, status, attempt, worker, at, detail in cur:
        event = {"status": status, "attempt": attempt, "worker": worker}
        event["occurred_at"] = at.isoformat()
        if detail:  # what the reconciler says it did, among others
            event["detail"] = detail
        out.setdefault(task_id, []).append(event)
    return out


def _merge_heads(conn: psycopg.Connection[Any], ids: list[str]) -> dict[str, tuple[str, int]]:
    cur = conn.execute(
        f"SELECT DISTINCT ON (e.task_id) e.task_id, e.status::text, e.attempt "
        f"FROM agent_execution_events e WHERE e.task_id = ANY(%s) "
        f"ORDER BY e.task_id, e.attempt DESC, {_RANK_SQL} DESC, e.occurred_at DESC, e.id DESC",
        (ids,),
    )
    return {r[0]: (r[1], r[2]) for r in cur}


def _duplicates(conn: psycopg.Connection[Any], ids: list[str]) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM agent_execution_events "
        "WHERE task_id = ANY(%s) GROUP BY task_id, status, attempt, worker, occurred_at "
        "HAVING count(*) > 1) d",
        (ids,),
    ).fetchone()
    return int(row[0]) if row else 0


def _lag(
    conn: psycopg.Connection[Any], ids: list[str], skewed: str | None
) -> dict[str, float | None]:
    """Hook → committed per event (``recorded_at - occurred_at``), leaving out the host
    whose clock runs ahead (its times would read as negative lags)."""
    cur = conn.execute(
        "SELECT extract(epoch FROM recorded_at - occurred_at) FROM agent_execution_events "
        "WHERE task_id = ANY(%s) AND worker IS DISTINCT FROM %s",
        (ids, skewed),
    )
    lags = sorted(max(0.0, float(r[0])) for r in cur)
    if not lags:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(statistics.median(lags), 3),
        "p99": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 3),
        "max": round(lags[-1], 3),
    }
