"""One recorder process of a drain: a real ``Recorder`` writing a real ``SQLStore``.

    python -m bench.drain.child --redis URL --db URL --consumer NAME [--batch 500] ...

Connects to Redis and PostgreSQL, prints ``ready``, waits for a line on stdin (go),
starts the recorder's thread, waits for a second line (stop), stops it and prints its
stats as one JSON line. Start-up (imports, connections) is thus outside the measured
window; the parent reads this process's CPU from /proc between go and the drained stream.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import orjson

from persistence.sql_store import SQLStore
from workers.recording.recorder import Recorder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--redis", required=True)
    p.add_argument("--db", required=True, help="postgresql+psycopg://...")
    p.add_argument("--stream", default="agentq:events")
    p.add_argument("--consumer", required=True)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--backlog-batch", type=int, default=None)
    p.add_argument("--block-ms", type=int, default=50)
    p.add_argument("--window-ms", type=int, default=100)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    store = SQLStore(args.db)
    rec = Recorder(
        args.redis,
        store,
        stream=args.stream,
        consumer=args.consumer,
        batch_size=args.batch,
        backlog_batch_size=args.backlog_batch,
        block_ms=args.block_ms,
        batch_window_ms=args.window_ms,
    )
    rec.redis.ping()
    with store.engine.connect() as conn:  # the pool's connection, opened before go
        conn.exec_driver_sql("SELECT 1")
    print("ready", flush=True)
    sys.stdin.readline()
    rec.start()
    sys.stdin.readline()
    rec.stop(drain_seconds=0)
    s = rec.stats
    lags = sorted(s.lag_seconds)
    out = {
        "batches": s.batches,
        "entries": s.entries,
        "transitions": s.transitions,
        "new_events": s.new_events,
        "dead_letters": s.dead_letters,
        "db_errors": s.db_errors,
        "last_error": s.last_error,
        "last_batch_monotonic": rec._last_batch,
        "stopped_monotonic": time.monotonic(),
        "max_lag_s": lags[-1] if lags else None,
    }
    print(orjson.dumps(out).decode(), flush=True)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
