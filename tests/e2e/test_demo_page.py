"""``agentq demo --page``: the demo also serves the live page and prints its address with
a token that the demo's server accepts (a secret made for the run: none is configured
here), the page lists the demo's executions, and Ctrl-C stops the server with the rest."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.support.page import ConsoleWatch, chromium, chromium_path
from tests.support.servers import free_port
from tests.support.workers import ROOT, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
URL = re.compile(r"(http://127\.0\.0\.1:\d+/)#token=([A-Za-z0-9_.-]+)")


def _get(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return dict(json.loads(resp.read()))


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_demo_page_prints_a_working_url_and_stops_with_the_demo(clean: str) -> None:
    chromium_path()  # skip (fail under CI) before starting anything
    port = free_port()
    err_log = Path(tempfile.mkstemp(prefix="demo-page-", suffix=".log")[1])
    env = {k: v for k, v in os.environ.items() if k != "SUPABASE_JWT_SECRET"}
    with err_log.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workers.cli",
                "demo",
                "--tasks",
                "9",
                "--json",
                "--page",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        match = wait_for(
            lambda: URL.search(err_log.read_text(errors="replace")) or proc.poll() is not None,
            180,
            what="the page's URL",
        )
        assert proc.poll() is None, err_log.read_text()[-3000:]
        base, token = match.group(1), match.group(2)
        assert base == f"http://127.0.0.1:{port}/"
        log = err_log.read_text()
        assert "polling (no PUSHER_*)" in log and "a secret made for this run" in log
        rows = wait_for(
            lambda: _get(f"{base}api/v1/executions?limit=500", token)["executions"],
            120,
            what="the demo's executions through the API",
        )
        session = rows[0]["session_id"]
        assert session.startswith("demo-")
        with chromium() as browser:
            page = browser.new_page()
            watch = ConsoleWatch(page)
            page.goto(f"{base}#token={token}")
            page.wait_for_selector("#executions tbody tr[data-task-id]", timeout=120_000)
            page.wait_for_selector('#live[data-mode="polling"]', timeout=120_000)
            assert watch.errors == []
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("serve" in " ".join(c.cmdline()) for c in children)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    # Interrupted while running the batch (130) or while only serving the page (0).
    assert proc.returncode in (0, 130), err_log.read_text()[-3000:]
    assert not _listening(port)
    assert [c.pid for c in children if not _gone(c)] == []


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
