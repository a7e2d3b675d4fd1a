"""``agentq realtime`` (the Pusher bridge) as its own process, for the end-to-end tests,
the page tests and the page benchmark."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.workers import ROOT, wait_for

START_S = 120.0  # the bridge to listen, on a machine busy with the whole suite


class BridgeProcess:
    """``agentq realtime`` in a subprocess, logging its counters every half second."""

    def __init__(self, env: dict[str, str]) -> None:
        self.log = Path(tempfile.mkstemp(prefix="agentq-realtime-", suffix=".log")[1])
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "realtime", "--status-every", "0.5"],
                cwd=ROOT,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        wait_for(
            lambda: "realtime: listening" in self.output() or self.proc.poll() is not None,  # type: ignore[union-attr]
            START_S,
            what="the bridge to listen",
        )
        assert self.proc.poll() is None, self.output()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        """The latest counters it logged (a line still being written is not read)."""
        text = self.output()
        complete = text[: text.rfind("\n") + 1]
        lines = [ln for ln in complete.splitlines() if "realtime status {" in ln]
        return json.loads(lines[-1].split("realtime status ", 1)[1]) if lines else {}

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The bridge stopped in its tracks (SIGSTOP) until the block ends (SIGCONT)."""
        assert self.proc is not None and self.proc.poll() is None, self.output()
        self.proc.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped process would not see SIGTERM
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
