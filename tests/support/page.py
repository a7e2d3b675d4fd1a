"""What the page's browser test and benchmark share: ``agentq serve`` as a subprocess
that logs to a file, headless Chromium (Debian's, driven by Playwright), and a watch on
the page's console.

Playwright's own browser download is never used: it cannot download here, and CI
installs Debian's ``chromium``. Without Playwright or Chromium the caller skips, except
under CI, where it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import free_port
from tests.support.workers import ROOT, wait_for

CHROMIUM_NAMES = ("chromium", "chromium-browser")


class ServeProcess:
    """``agentq serve`` on a free loopback port, its log in a file (a pipe nobody reads
    would fill up and stall the server)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="agentq-serve-", suffix=".log")[1])
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServeProcess:
        argv = [sys.executable, "-m", "workers.cli", "serve", "--port", str(self.port)]
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=fh, stderr=subprocess.STDOUT
            )
        wait_for(self._up, timeout, what="agentq serve to listen")
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"agentq serve exited:\n{self.output()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (under CI the browser test must run: .ci/run installs it)")
    pytest.skip(reason)


def chromium_path() -> str:
    """Debian's Chromium; skips (fails under CI) when it or Playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[dev]'")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    _missing("chromium is not installed: apt-get install chromium")
    raise AssertionError("unreachable")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright's ``Browser``)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class ConsoleWatch:
    """Every console error and uncaught exception of a Playwright page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.errors.append(f"console: {message.text} ({where})")


def distinct_colours(png: Path) -> int:
    """How many distinct colours a screenshot holds (a blank page has one or two)."""
    from PIL import Image

    with Image.open(png) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colours) if colours is not None else 1 << 20
