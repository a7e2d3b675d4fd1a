"""The embedded recorder as a child process of the worker (the default).

Why a process and not a thread in the worker's main process: that process runs
Celery's consumer loop, which hands every task to the pool; a recorder thread beside it
competes for the same GIL, and the worker's throughput drops with it. As a child it
runs on the other core. It also keeps the main process free of extra threads when
billiard forks a replacement pool process (a fork while a thread holds a lock hangs
the child).

The child drains what is in the stream when the worker stops it (SIGTERM, sent by the
bootstep after the worker's last events), and stops by itself when the worker dies
(its parent pid changes). It ignores SIGINT: a Ctrl-C in the terminal starts the
worker's warm shutdown, whose last events the recorder must still write.

    python -m workers.recording.recorder_process --consumer celery@host --parent 1234 \
        [--heartbeat-types content_generator,quiz_generator]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from workers.log_json import install_excepthook, json_handler, set_worker
from workers.logs import apply_supabase_debug, configured_level, json_logs
from workers.recording.recorder import Recorder
from workers.settings import Settings, get_settings
from workers.stores import build_store
from workers.tracing.setup import install_from_env as install_tracing

logger = logging.getLogger(__name__)


def build_recorder(
    settings: Settings, consumer: str, heartbeat: tuple[str, Sequence[str]] | None = None
) -> Recorder:
    """A recorder on the configured stream, writing the primary (mirrored when configured)."""
    install_tracing()  # its commit spans, when OTEL_* asks for them (no workers.app here)
    return Recorder(
        settings.recorder_redis_url,
        build_store(settings),
        stream=settings.events_stream,
        consumer=consumer,
        batch_size=settings.recorder_batch_size,
        backlog_batch_size=settings.recorder_backlog_batch_size,
        block_ms=settings.recorder_block_ms,
        batch_window_ms=settings.recorder_batch_window_ms,
        claim_idle_ms=settings.recorder_claim_idle_ms,
        spool_dir=settings.spool_dir,
        heartbeat=heartbeat,
        heartbeat_seconds=settings.heartbeat_seconds,
    )


def spawn(consumer: str, heartbeat_types: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start the child for the calling worker (its own session: no terminal signals)."""
    cmd = [sys.executable, "-m", "workers.recording.recorder_process", "--consumer", consumer]
    cmd += ["--parent", str(os.getpid())]
    # The worker's own level (LOG_LEVEL, or its -l), not the child's guess.
    cmd += ["--log-level", logging.getLevelName(logging.getLogger().getEffectiveLevel())]
    if heartbeat_types:
        cmd += ["--heartbeat-types", ",".join(heartbeat_types)]
    return subprocess.Popen(cmd, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Ask the child to drain and exit; kill it if it does not within ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning("recorder process %d did not stop in %.0fs: killed", proc.pid, timeout)
        proc.kill()
        proc.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="agentq recorder, child of a worker")
    parser.add_argument("--consumer", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--heartbeat-types", default="")
    parser.add_argument("--log-level", help="default: LOG_LEVEL")
    args = parser.parse_args(argv)
    level = args.log_level or configured_level()
    if json_logs():
        set_worker(args.consumer)  # the worker it belongs to: its lines carry `worker`
        logging.basicConfig(level=level, handlers=[json_handler()], force=True)
        install_excepthook()
    else:
        fmt = "[%(asctime)s: %(levelname)s/recorder] %(message)s"
        logging.basicConfig(level=level, format=fmt)
    apply_supabase_debug()

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    types = [t for t in args.heartbeat_types.split(",") if t]
    rec = build_recorder(get_settings(), args.consumer, (args.consumer, types) if types else None)
    rec.start()
    while not done.wait(0.5):
        if os.getppid() != args.parent:  # the worker died (SIGKILL): nothing will stop us
            logger.warning("worker %d is gone: recorder stopping", args.parent)
            break
    rec.stop(drain_seconds=5.0)
    rec.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
