"""Starting and stopping what ``agentq up`` runs in the background.

:func:`bring_up` starts what is missing (the embedded PostgreSQL and Redis, and on request
a worker, beat and ``agentq serve``), migrates, and records every process in the state
(``workers.local.state``); run again, it finds them up and starts nothing. :func:`bring_down`
stops exactly the recorded processes whose pid and start time still match, clients first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil

from workers.local.state import ORDER, Proc, State

READY_TIMEOUT_S = 90.0


class UpError(RuntimeError):
    """Something ``agentq up`` started did not come up; the message names its log."""


def bring_up(
    state: State,
    *,
    worker: bool = False,
    beat: bool = False,
    page_port: int | None = None,
    say: Callable[[str], None] = print,
) -> list[str]:
    """Start what is not running; returns the names of what it started."""
    started: list[str] = []
    if not state.servers_up():
        stale = state.gone()
        if stale:
            say(f"stale state: {', '.join(stale)} gone; starting again")
        _stop_all(state)  # whatever of the old set is still there
        state.procs, state.page = {}, {}
        _start_servers(state)
        started += ["postgres", "redis"]
    state.save()
    _migrate(state)
    wanted = [("worker", worker), ("beat", beat), ("serve", page_port is not None)]
    for name, want in wanted:
        if want and not (name in state.procs and state.procs[name].alive()):
            _start_child(state, name, page_port)
            started.append(name)
            state.save()
    return started


def _start_servers(state: State) -> None:
    from workers.demo.embedded import start_embedded

    services = start_embedded(state.root, postgres=True, redis=True, detached=True)
    assert services.database_url and services.broker_url
    state.database_url, state.broker_url = services.database_url, services.broker_url
    state.procs["postgres"] = Proc.of(services.pids["postgres"], state.root / "postgres" / "log")
    state.procs["redis"] = Proc.of(services.pids["redis"], state.root / "redis" / "redis.log")


def _migrate(state: State) -> None:
    from rich.console import Console

    from persistence.migration_service import MigrationService
    from workers.cli.migrate import apply_migrations
    from workers.urls import to_sqlalchemy_url

    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    apply_migrations(MigrationService(to_sqlalchemy_url(state.database_url)), "head", quiet)


def child_env(state: State) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["DATABASE_URL"], env["CELERY_BROKER_URL"] = state.database_url, state.broker_url
    if state.page:
        env["SUPABASE_JWT_SECRET"] = state.page["secret"]
    return env


def _start_child(state: State, name: str, page_port: int | None) -> None:
    celery = [sys.executable, "-m", "celery", "-A", "workers.app"]
    if name == "worker":
        argv = [*celery, "worker", "-l", "info", "-c", "2", "-n", f"up-{uuid.uuid4().hex[:6]}@%h"]
        argv += ["--without-mingle", "--without-gossip"]
    elif name == "beat":
        argv = [*celery, "beat", "-l", "info", "-s", str(state.root / "celerybeat-schedule")]
    else:
        assert page_port is not None
        # A secret of this state's own, so the printed token works with no setting typed.
        secret = os.environ.get("SUPABASE_JWT_SECRET") or secrets.token_urlsafe(48)
        state.page = {"port": page_port, "user": str(uuid.uuid4()), "secret": secret}
        argv = [sys.executable, "-m", "workers.cli", "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(page_port)]
    log = state.root / f"{name}.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            argv,
            env=child_env(state),
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `agentq up`; Ctrl-C in the shell misses it
        )
    state.procs[name] = Proc.of(proc.pid, log)
    _wait_ready(name, proc, log, page_port)


def _wait_ready(name: str, proc: subprocess.Popen[bytes], log: Path, port: int | None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _ready(name, log, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            what = "exited" if proc.returncode is not None else "is not ready"
            tail = log.read_text(errors="replace")[-1200:]
            raise UpError(f"{name} {what} (log {log}):\n{tail}")
        time.sleep(0.2)


def _ready(name: str, log: Path, port: int | None) -> bool:
    if name == "worker":
        return b" ready." in log.read_bytes()[-20000:]
    if name == "serve":
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port or 0), 0.5):
            return True
        return False
    return True  # beat: nothing to wait for; a beat that dies is seen by `agentq up` again


def bring_down(state: State, say: Callable[[str], None] = print) -> list[str]:
    """Stop the recorded processes that are still ours; forget the state."""
    stopped = _stop_all(state, say)
    state.forget()
    return stopped


def _stop_all(state: State, say: Callable[[str], None] = print) -> list[str]:
    stopped = []
    for name in ORDER:
        proc = state.procs.get(name)
        if proc is None or not proc.alive():
            continue
        # postgres: SIGINT is its fast shutdown (SIGTERM waits for every client to leave).
        _stop(proc, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        stopped.append(name)
        say(f"stopped {name} (pid {proc.pid})")
    return stopped


def _stop(proc: Proc, sig: int, timeout: float = 60.0) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        p = psutil.Process(proc.pid)
        kids = p.children(recursive=True)
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except psutil.TimeoutExpired:
            p.kill()
            p.wait(10)
        # A pool child left behind by a main process that was killed.
        for kid in kids:
            with contextlib.suppress(psutil.Error):
                if kid.is_running():
                    kid.kill()
                    kid.wait(10)


def page_url(state: State) -> str:
    """The page's address with a development token in the fragment."""
    from workers.demo.page import token_ttl_s
    from workers.serve.auth import make_token
    from workers.settings import get_settings

    os.environ["SUPABASE_JWT_SECRET"] = state.page["secret"]
    get_settings.cache_clear()
    token = make_token(get_settings(), "authenticated", state.page["user"], token_ttl_s())
    return f"http://127.0.0.1:{state.page['port']}/#token={token}"
