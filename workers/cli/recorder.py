"""``agentq recorder``: a standalone recorder (workers run one each by default)."""

from __future__ import annotations

import click

from workers.cli import common


@click.command()
@click.option("--name", help="Consumer name (default: host name and pid).")
def recorder(name: str | None) -> None:
    """Run a standalone recorder (workers run one each unless AGENTQ_EMBEDDED_RECORDER=false)."""
    import os
    import signal
    import socket
    import threading

    from workers.recording.recorder_process import build_recorder

    settings = common.load_settings()
    rec = build_recorder(settings, name or f"recorder-{socket.gethostname()}-{os.getpid()}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    rec.start()
    common.console.print(f"recorder {rec.consumer} running; Ctrl-C to stop", highlight=False)
    done.wait()
    rec.stop()
    rec.store.close()
