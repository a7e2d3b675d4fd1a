"""The page and the API at a month (and ten) of data: every query they issue, timed.

    .venv/bin/python -m bench.bench_queries [--scale 1] [--runs 20] [--keep] [--reuse]
        [--schema head|before]

Builds the database ``agentq_bench_queries`` (``AGENTQ_BENCH_DB`` names another) on the
machine's PostgreSQL (``AGENTQ_BENCH_PG``, the admin URL), migrated to head; fills it
with the drain bench's loader (``bench/drain/load.py``: ``--scale`` x 2 000 000
executions and four history rows each over 30 days, 8 workers, ``--users`` distinct user
ids) and ``bench/queries_fill.py`` (5-minute metrics and health rows over ``--scale`` x
30 days, at most 90; a few hundred unfinished executions). Then every query the page's
JSON API and ``agentq serve``'s health issue (``QUERIES`` below: the latest executions
with and without each filter, next pages, one execution and its history, agents,
metrics over 24 h, health) runs ``--runs`` times on one connection with psycopg's
defaults (so from the sixth run on it is a prepared statement, as in the pooled
server), with the parameters the API passes; p50 and max in ms per query, and one
``EXPLAIN (ANALYZE, BUFFERS)`` of each kept in ``bench/results/queries_last_run.json``
(``--output``). ``/metrics``' queries are timed too, marked ``scope: metrics``.

``--schema before`` is the code before revision 0013: its indexes dropped and every
query run as is (prepared from the sixth run, generic plans allowed); ``head`` creates
them if missing and runs the reads as the code does now (``CUSTOM`` below: custom plans).
``--reuse`` measures the database a ``--keep`` run left, without loading.
``--multiply 10`` then copies its executions in SQL to ten times as many over the same
month (``bench/queries_fill.py``; faster than ``--scale 10``'s loader, which builds the
history in memory: several GB at 10x), their history left as loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.drain import load
from bench.queries_fill import fill, multiply
from persistence.migration_service import MigrationService
from persistence.sql import queries, read_sql
from persistence.sql_store import CUSTOM_PLANS

RESULTS = Path(__file__).resolve().parent / "results" / "queries_last_run.json"
BUDGET_MS = 50.0
EXECUTIONS, HISTORY, WORKERS = 2_000_000, 8_000_000, 8
Params = dict[str, Any]
Query = tuple[str, str, str, Callable[[Params], Params], str]
# The queries whose reads plan each execution for its values (persistence/sql_store.py
# custom_plans): browse.list_executions, metrics.get_agent_metrics, health.execution_stats.
CUSTOM = {"list_executions", "get_agent_metrics", "executions_by_status", "execution_times"}
CUSTOM |= {"open_executions", "db_now"}


def _page(**kw: Any) -> Callable[[Params], Params]:
    """list_executions' parameters as the API passes them (browse.list_executions)."""

    def make(ctx: Params) -> Params:
        p: Params = {"status": None, "agent_type": None, "user_id": None, "limit": 50}
        p.update({"before_at": None, "before_id": None})
        for k, v in kw.items():
            p[k] = ctx[v[1:]] if isinstance(v, str) and v.startswith("@") else v
        if "cursor" in kw:
            p["before_at"], p["before_id"] = p.pop("cursor")
        return p

    return make


def _fixed(p: Params) -> Callable[[Params], Params]:
    return lambda ctx: {k: ctx[v[1:]] if str(v).startswith("@") else v for k, v in p.items()}


def _health(ctx: Params) -> Params:
    return {"since": ctx["db_now"] - timedelta(seconds=300.0), "lookback_s": 86_400.0}


B, Q, M, H, OBS = "browse.sql", "queries.sql", "metrics.sql", "health.sql", "observability.sql"
STATUSES = ("pending", "queued", "running", "completed", "failed", "cancelled", "retrying")
# (label, file, query name, parameters from the context, scope)
QUERIES: list[Query] = [
    ("executions latest", B, "list_executions", _page(), "api"),
    ("executions latest limit=500", B, "list_executions", _page(limit=500), "api"),
    ("executions next page", B, "list_executions", _page(cursor="@page2"), "api"),
    ("executions page 15 days back", B, "list_executions", _page(cursor="@deep"), "api"),
    *[(f"executions status={s}", B, "list_executions", _page(status=s), "api") for s in STATUSES],
    *[
        (
            f"executions status={s} next page",
            B,
            "list_executions",
            _page(status=s, cursor=f"@page2_{s}"),
            "api",
        )
        for s in ("completed", "failed", "cancelled", "running")
    ],
    ("executions agent_type", B, "list_executions", _page(agent_type="quiz_generator"), "api"),
    (
        "executions agent_type next page",
        B,
        "list_executions",
        _page(agent_type="quiz_generator", cursor="@page2_type"),
        "api",
    ),
    ("executions user_id", B, "list_executions", _page(user_id="@user"), "api"),
    (
        "executions user_id next page",
        B,
        "list_executions",
        _page(user_id="@user", cursor="@page2_user"),
        "api",
    ),
    (
        "executions user_id unknown",
        B,
        "list_executions",
        _page(user_id="00000000-0000-4000-8000-000000000000"),
        "api",
    ),
    (
        "executions status+agent_type+user_id",
        B,
        "list_executions",
        _page(status="failed", agent_type="quiz_generator", user_id="@user"),
        "api",
    ),
    ("execution (newest)", Q, "get_execution", _fixed({"task_id": "@newest"}), "api"),
    ("execution history (newest)", Q, "get_history", _fixed({"task_id": "@newest"}), "api"),
    ("execution (15 days back)", Q, "get_execution", _fixed({"task_id": "@deep_id"}), "api"),
    ("execution history (15 days back)", Q, "get_history", _fixed({"task_id": "@deep_id"}), "api"),
    ("agents", B, "list_agents", _fixed({"stale_s": 60.0}), "api"),
    (
        "metrics 24 h",
        M,
        "get_agent_metrics",
        _fixed({"agent_id": None, "hours": 24.0, "now": None}),
        "api",
    ),
    (
        "metrics 24 h one agent",
        M,
        "get_agent_metrics",
        _fixed({"agent_id": "@agent", "hours": 24.0, "now": None}),
        "api",
    ),
    ("health ping", H, "ping", _fixed({}), "health"),
    (
        "health tables_accessible",
        H,
        "tables_accessible",
        _fixed({"tables": ["agent_instances", "agent_executions", "agent_metrics"]}),
        "health",
    ),
    (
        "health realtime_tables",
        H,
        "realtime_tables",
        _fixed({"tables": ["agent_instances", "agent_executions", "agent_metrics"]}),
        "health",
    ),
    ("health db_now", H, "db_now", _fixed({}), "health"),
    ("health executions_by_status", H, "executions_by_status", _health, "health"),
    ("health execution_times", H, "execution_times", _health, "health"),
    ("health open_executions", H, "open_executions", _fixed({}), "health"),
    ("health instances_summary", H, "instances_summary", _fixed({"stale_s": 60.0}), "health"),
    ("/metrics execution_counts", OBS, "execution_counts", _fixed({}), "metrics"),
    ("/metrics task_counts", OBS, "task_counts", _fixed({}), "metrics"),
]


def _urls() -> tuple[str, str, str]:
    admin = os.environ.get("AGENTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = os.environ.get("AGENTQ_BENCH_DB", "agentq_bench_queries")
    plain = admin.rsplit("/", 1)[0] + "/" + name
    return admin, name, plain


def _index_names() -> list[str]:
    """The indexes revision 0013 creates, read from its SQL."""
    sql = read_sql("0013_query_indexes.sql")
    return [
        line.split("EXISTS", 1)[1].split()[0]
        for line in sql.splitlines()
        if line.startswith("CREATE INDEX")
    ]


def _context(conn: psycopg.Connection[Any]) -> Params:
    """Cursors, ids and a user the queries need, read from the loaded rows."""
    page = queries(B)["list_executions"]
    ctx: Params = {"db_now": conn.execute("SELECT now()").fetchone()[0]}  # type: ignore[index]

    def last_of(**kw: Any) -> Any:
        rows = conn.execute(page, _page(**kw)(ctx)).fetchall()
        return (rows[-1][6], rows[-1][0]) if len(rows) > 50 else None

    newest = conn.execute(page, _page(limit=1)(ctx)).fetchone()
    ctx["newest"], ctx["user"] = newest[0], str(newest[12])  # type: ignore[index]
    ctx["page2"] = last_of()
    deep = conn.execute(
        "SELECT created_at, task_id FROM agent_executions WHERE created_at >= now() - "
        "interval '15 days' ORDER BY created_at, task_id LIMIT 1"
    ).fetchone()
    ctx["deep"], ctx["deep_id"] = (deep[0], deep[1]), deep[1]  # type: ignore[index]
    for s in ("completed", "failed", "cancelled", "running"):
        ctx[f"page2_{s}"] = last_of(status=s) or (ctx["db_now"], "~")
    ctx["page2_type"] = last_of(agent_type="quiz_generator")
    ctx["page2_user"] = last_of(user_id=ctx["user"]) or (ctx["db_now"], "~")
    ctx["agent"] = conn.execute("SELECT min(agent_id) FROM agent_instances").fetchone()[0]  # type: ignore[index]
    return ctx


def _run(conn: psycopg.Connection[Any], sql: str, params: Params, custom: bool) -> list[Any]:
    """The rows of one execution, as the reads run it: in a transaction that first sets
    custom plans (``custom``), else alone."""
    with conn.transaction():
        if custom:
            conn.execute(CUSTOM_PLANS)
        return conn.execute(sql, params).fetchall()


def _measure(
    conn: psycopg.Connection[Any], sql: str, params: Params, runs: int, custom: bool
) -> Params:
    times, n = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        n = len(_run(conn, sql, params, custom))
        times.append((time.perf_counter() - t) * 1000)
    plan = [str(r[0]) for r in _run(conn, "EXPLAIN (ANALYZE, BUFFERS) " + sql, params, custom)]
    server = [float(line.split()[2]) for line in plan if line.startswith("Execution Time:")]
    return {
        "p50_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "first_ms": round(times[0], 2),
        "rows": n,
        # The server's own time for the plan EXPLAIN shows (the p50 adds the round trip
        # and psycopg's decoding of the rows).
        "server_ms": server[0] if server else None,
        "custom_plans": custom,
        "explain": plan,
    }


def measure(url: str, runs: int, schema: str) -> list[Params]:
    out = []
    with psycopg.connect(url, autocommit=True) as conn:
        ctx = _context(conn)
        for label, file, name, make, scope in QUERIES:
            sql = queries(file)[name]
            r = _measure(conn, sql, make(ctx), runs, schema == "head" and name in CUSTOM)
            r = {"query": label, "scope": scope, "sql": f"{file} ({name})", **r}
            r["within_budget"] = r["p50_ms"] <= BUDGET_MS
            out.append(r)
            print(f"{label:45s} p50 {r['p50_ms']:9.2f}  max {r['max_ms']:9.2f}  rows {r['rows']}")
    return out


def _sizes(conn: psycopg.Connection[Any]) -> Params:
    rows = conn.execute(
        "SELECT c.relname, c.reltuples::bigint, pg_relation_size(c.oid),"
        " pg_indexes_size(c.oid) FROM pg_class c WHERE c.relname = ANY(%s)",
        (["agent_executions", "agent_execution_events", "agent_metrics", "system_health"],),
    ).fetchall()
    idx = conn.execute(
        "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes"
        " WHERE relname = 'agent_executions' ORDER BY 1"
    ).fetchall()
    return {
        "tables": {r[0]: {"rows": r[1], "heap_bytes": r[2], "index_bytes": r[3]} for r in rows},
        "agent_executions_indexes": {r[0]: r[1] for r in idx},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="x a month (2M executions)")
    ap.add_argument("--users", type=int, default=1000, help="distinct user ids (1000)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="leave the database for --reuse")
    ap.add_argument("--reuse", action="store_true", help="measure the kept database as is")
    ap.add_argument("--schema", choices=("head", "before"), default="head")
    ap.add_argument(
        "--multiply",
        type=int,
        default=1,
        help="then copy the executions in SQL to this many times as many (history as loaded)",
    )
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.scale <= 0 or args.runs < 1 or args.users < 0 or args.multiply < 1:
        ap.error("--scale must be > 0, --runs ≥ 1, --users ≥ 0, --multiply ≥ 1")
    admin, name, url = _urls()
    result: Params = {"scale": args.scale, "runs": args.runs, "schema": args.schema}
    result["started"] = datetime.now(UTC).isoformat(timespec="seconds")
    if not args.reuse:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        MigrationService(url.replace("postgresql://", "postgresql+psycopg://", 1)).run_migrations()
        n = int(EXECUTIONS * args.scale)
        result["load"] = load.load(url, n, 4 * n, WORKERS, users=args.users)
        result["fill"] = fill(url, min(90, round(30 * args.scale)))
        print("loaded", result["load"], result["fill"])
    if args.multiply > 1:
        result["multiply"] = multiply(url, args.multiply)
        print("multiplied", result["multiply"])
    with psycopg.connect(url, autocommit=True) as conn:
        if args.schema == "before":
            for index in _index_names():
                conn.execute(f"DROP INDEX IF EXISTS {index}")
        else:
            conn.execute("SET maintenance_work_mem = '512MB'")
            conn.execute(read_sql("0013_query_indexes.sql"))
        result["sizes"] = _sizes(conn)
        result["settings"] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["shared_buffers", "work_mem", "jit", "random_page_cost", "server_version"],),
            ).fetchall()
        )
    result["queries"] = measure(url, args.runs, args.schema)
    result["over_budget"] = [q["query"] for q in result["queries"] if not q["within_budget"]]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, default=str) + "\n")
    if not args.keep:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("over budget:", result["over_budget"] or "none", "->", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
