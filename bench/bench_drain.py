"""Recording at scale: how fast 1, 2 and 4 recorders drain a full stream into PostgreSQL.

    .venv/bin/python -m bench.bench_drain [--tasks 100000] [--recorders 1,2,4]
        [--full-executions 2000000] [--full-history 8000000]

Starts its own PostgreSQL cluster and redis-server (temporary directories, free ports,
``tests/support/servers.py``; the machine's servers are never touched) and migrates the
database with ``MigrationService``. For each table size, empty and then full (the tables
loaded by COPY first: a database a month old, ``bench/drain/load.py``), and each number of
recorders: the stream ``agentq:events`` is filled with every transition of ``--tasks``
tasks as the hooks write them (``bench/drain/traffic.py``), then that many real
``Recorder`` processes of the group ``recorders`` (``bench/drain/child.py``; batch size
and block as deployed, batch window 0, plus one 1-recorder drain with the deployed 100 ms
window) are let loose on it at once, and timed until the stream is empty. CPU comes
from /proc: the recorder processes, every process of the PostgreSQL server (its backends
apart), redis-server. Every run is verified
(``bench/drain/verify.py``). Results in ``bench/results/drain_last_run.json``; see
bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.drain import load, report
from bench.drain.run import Servers, drain
from bench.drain.traffic import build
from persistence.migration_service import MigrationService
from tests.support.servers import PostgresServer, RedisServer
from workers.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "drain_last_run.json"
DB = "agentq_drain"
V7 = Path("uuid-v7-ids")  # the --v7-ids ab variant: no SQL, v7 ids in the traffic


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=100_000, help="tasks per drain (100000)")
    p.add_argument("--recorders", default="1,2,4", help="recorder processes per drain (1,2,4)")
    p.add_argument("--full-executions", type=int, default=None, help="2000000; 0: no full tables")
    p.add_argument("--full-history", type=int, default=None, help="history rows (8000000)")
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="the full tables' size in months: 2 M executions and 8 M history rows each (1)",
    )
    p.add_argument("--tables", default="empty,full", help="which table sizes (empty,full)")
    p.add_argument("--workers", type=int, default=8, help="worker hostnames of the traffic (8)")
    p.add_argument("--spread", type=int, default=500, help="tasks between a task's phases")
    p.add_argument("--batch", type=int, default=_default("recorder_batch_size"))
    p.add_argument(
        "--backlog-batch",
        default=str(_default("recorder_backlog_batch_size")),
        help="entries per read under a backlog (AGENTQ_RECORDER_BACKLOG_BATCH); several,"
        " comma-separated: each number of recorders drains once with each, alternating",
    )
    p.add_argument("--block-ms", type=int, default=_default("recorder_block_ms"))
    p.add_argument(
        "--ab-sql",
        type=Path,
        action="append",
        default=[],
        help="a lever file ('-- on' SQL, a '-- off' line, its undoing): every drain of the"
        " matrix runs once without and once with it, alternating (repeatable)",
    )
    p.add_argument(
        "--v7-ids",
        choices=["no", "yes", "ab"],
        default="no",
        help="the hooks' random event ids as uuid v7 (a lever); ab: each drain once with"
        " uuid4 and once with v7, alternating",
    )
    p.add_argument(
        "--apply-sql",
        type=Path,
        action="append",
        default=[],
        help="a .sql file run after the migrations, before any load (a lever under trial)",
    )
    p.add_argument(
        "--window-ms",
        type=int,
        default=0,
        help="the recorders' batch window (AGENTQ_RECORDER_BATCH_WINDOW_MS) in the matrix;"
        " 0: a batch follows the previous one at once (default)",
    )
    p.add_argument(
        "--throttled-tasks",
        type=int,
        default=20_000,
        help="tasks of one more 1-recorder drain per table size with the deployed window"
        f" ({_default('recorder_batch_window_ms')} ms); 0: none (default 20000)",
    )
    p.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="ALTER SYSTEM SET before the runs (repeatable), e.g. shared_buffers=1GB",
    )
    p.add_argument(
        "--pg-stat-statements",
        action="store_true",
        help="load pg_stat_statements (track = all: the statements inside agentq_record_batch"
        " too) and print each drain's dearest statements; adds its own overhead to the figures",
    )
    p.add_argument("--stall-seconds", type=float, default=60.0)
    p.add_argument(
        "--revision",
        default="head",
        help="migrate to this revision (head); e.g. 0011_trace_id: without 0013's indexes",
    )
    p.add_argument(
        "--drop-index",
        action="append",
        default=[],
        metavar="NAME",
        help="drop this index after migrating (repeatable): one index's cost",
    )
    p.add_argument(
        "--port", type=int, default=0, help="PostgreSQL's port, Redis the next (0: any free)"
    )
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.scale <= 0:
        p.error(f"--scale must be positive, not {args.scale}")
    if args.full_executions is None:
        args.full_executions = round(2_000_000 * args.scale)
    if args.full_history is None:
        args.full_history = round(8_000_000 * args.scale)
    return args


def _postmaster(pg: PostgresServer) -> int:
    return int((pg.datadir / "postmaster.pid").read_text().split()[0])


def _configure(pg: PostgresServer, settings: list[str]) -> None:
    """ALTER SYSTEM SET each NAME=VALUE, then restart the cluster (fsync stays off)."""
    with psycopg.connect(pg.url, autocommit=True) as conn:
        for item in settings:
            name, _, value = item.partition("=")
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(
                    sql.Identifier(*name.strip().split(".")), sql.Literal(value.strip())
                )
            )
    pg.stop()
    pg.start()


def _truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE agent_execution_events, agent_executions, agent_instances CASCADE")


def _plan(args: argparse.Namespace) -> list[tuple[str, int, int, int, int, Path | None]]:
    """(kind, recorders, window ms, tasks, backlog batch) of the drains of one table size,
    in order: several backlog batches alternate (an A/B on the same server and tables)."""
    backlogs = [int(b) for b in str(args.backlog_batch).split(",")]
    plan = [
        ("matrix", int(k), args.window_ms, args.tasks, b, lever)
        for k in args.recorders.split(",")
        for b in backlogs
        for lever in [None, *args.ab_sql, *([V7] if args.v7_ids == "ab" else [])]
    ]
    deployed = _default("recorder_batch_window_ms")
    if args.throttled_tasks > 0 and args.window_ms != deployed:
        plan.append(("deployed window", 1, deployed, args.throttled_tasks, backlogs[0], None))
    return plan


def _lever(url: str, lever: Path | None, *, on: bool) -> None:
    """Run the "-- on" or the "-- off" part of a lever file (``--ab-sql``)."""
    if lever is None or lever == V7:
        return
    text = lever.read_text()
    if "\n-- off\n" not in text:
        raise SystemExit(f"{lever}: no '-- off' line separating the lever from its undoing")
    part = text.split("\n-- off\n")[0 if on else 1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(part)
        conn.execute("VACUUM (ANALYZE) agent_executions, agent_execution_events")


def _run_all(srv: Servers, args: argparse.Namespace) -> tuple[list[dict[str, Any]], Any]:
    runs: list[dict[str, Any]] = []
    loaded = None
    for tables in [t.strip() for t in args.tables.split(",") if t.strip()]:
        if tables == "full":
            if args.full_executions <= 0:
                continue
            _truncate(srv.pg_url)
            print(
                f"loading {args.full_executions} executions, {args.full_history} history rows"
                " by COPY ...",
                flush=True,
            )
            loaded = load.load(srv.pg_url, args.full_executions, args.full_history, args.workers)
            print(f"  loaded: {loaded}", flush=True)
        for kind, recorders, window, tasks, backlog, lever in _plan(args):
            if tables == "empty":
                _truncate(srv.pg_url)
            v7 = args.v7_ids == "yes" or lever == V7
            traffic = build(tasks, workers=args.workers, spread=args.spread, v7=v7)
            run_args = argparse.Namespace(
                **{**vars(args), "window_ms": window, "backlog_batch": backlog}
            )
            _lever(srv.pg_url, lever, on=True)
            result = drain(srv, traffic, recorders, run_args, tables)
            _lever(srv.pg_url, lever, on=False)
            result["lever"] = lever.name if lever else None
            result["kind"], result["window_ms"] = kind, window
            result["backlog_batch"] = backlog
            result["outcomes"] = traffic.outcomes
            report.print_run(result)
            runs.append(result)
    return runs, loaded


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    pg: PostgresServer | None = None
    rd: RedisServer | None = None
    logs = Path(tempfile.mkdtemp(prefix="agentq-drain-"))
    try:
        pg = PostgresServer(args.port or None)
        pg.start()
        if args.pg_setting:
            _configure(pg, args.pg_setting)
        if args.pg_stat_statements:  # its settings exist once the library is loaded
            _configure(pg, ["shared_preload_libraries=pg_stat_statements"])
            _configure(pg, ["pg_stat_statements.track=all"])
        rd = RedisServer(args.port + 1 if args.port else None)
        rd.start()
        assert rd.proc is not None
        base = pg.url.rsplit("/", 1)[0]
        srv = Servers(
            pg_url=f"{base}/{DB}",
            sa_url=f"{base}/{DB}".replace("postgresql://", "postgresql+psycopg://"),
            redis_url=rd.url,
            postmaster=_postmaster(pg),
            redis_pid=rd.proc.pid,
            logs=logs,
        )
        MigrationService(srv.sa_url).run_migrations(args.revision)
        with psycopg.connect(srv.pg_url, autocommit=True) as conn:
            for name in args.drop_index:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        for lever in args.apply_sql:
            with psycopg.connect(srv.pg_url, autocommit=True) as conn:
                conn.execute(lever.read_text())
        if args.pg_stat_statements:
            with psycopg.connect(srv.pg_url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        with psycopg.connect(srv.pg_url) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        print(
            f"PostgreSQL {version[0] if version else '?'} on port {pg.port} (fsync=off),"
            f" redis-server on port {rd.port}; {args.tasks} tasks per drain, recorders"
            f" {args.recorders}, batch {args.batch}, window {args.window_ms} ms",
            flush=True,
        )
        runs, loaded = _run_all(srv, args)
        with psycopg.connect(srv.pg_url) as conn:  # are the recorder's updates HOT?
            row = conn.execute(
                "SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                " WHERE relname = 'agent_executions'"
            ).fetchone()
        updates = dict(zip(("inserted", "updated", "hot_updated"), row or (), strict=False))
    except BaseException:
        for f in sorted(logs.glob("*.log")):
            tail = f.read_text(errors="replace").splitlines()[-20:]
            if tail:
                print(f"--- {f.name} (last lines)\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.destroy()
        shutil.rmtree(logs, ignore_errors=True)
    extra = report.print_report(runs, loaded)
    extra["full_tables_load"] = loaded
    extra["revision"] = args.revision
    extra["dropped_indexes"] = args.drop_index
    extra["agent_executions_writes"] = updates
    print(f"agent_executions writes (all runs): {updates}")
    extra["postgres_version"] = version[0] if version else None
    extra["wall_s"] = round(time.monotonic() - t0)
    report.write_json(args.output, args, started, runs, extra)
    print(f"\n{extra['wall_s']} s in all; results in {args.output}")
    return 1 if any(r["failures"] for r in runs) else 0  # a lost or doubled transition


if __name__ == "__main__":
    sys.exit(main())
