"""A real Pusher-protocol server (soketi, from npm) and a websocket subscriber for tests.

soketi is bound to loopback only — its HTTP/websocket port, its metrics/usage port and
its cluster discovery (which would otherwise broadcast UDP off the machine) — on free
ports, with one app whose id is numeric (the Python ``pusher`` client insists).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import free_port
from tests.support.workers import ROOT, wait_for

SOKETI = ROOT / "node_modules" / ".bin" / "soketi"
APP_ID, APP_KEY, APP_SECRET = "4242", "agentq-test-key", "agentq-test-secret"


def require_soketi() -> None:
    """Skip the test when soketi is not installed; under CI, fail instead."""
    if not SOKETI.exists():
        reason = f"{SOKETI} is missing: run `npm install --no-audit --no-fund` at the repo root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


class SoketiServer:
    """``soketi start`` on a free loopback port; ``stop()`` and ``start()`` again keep it."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="agentq-soketi-"))
        self.log = self.dir / "soketi.log"
        self.config = self.dir / "soketi.json"
        self.config.write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "port": self.port,
                    "debug": False,
                    "shutdownGracePeriod": 100,
                    "metrics.enabled": False,
                    "metrics.host": "127.0.0.1",
                    "metrics.port": free_port(),
                    "cluster.hostname": "127.0.0.1",
                    "cluster.address": "127.0.0.1",
                    "cluster.unicast": "127.0.0.1",
                    "cluster.broadcast": "127.0.0.1",
                    "cluster.port": free_port(),
                    "appManager.array.apps": [
                        {
                            "id": APP_ID,
                            "key": APP_KEY,
                            "secret": APP_SECRET,
                            "enabled": True,
                            "enableClientMessages": False,
                            "maxConnections": -1,
                            "maxBackendEventsPerSecond": -1,
                            "maxClientEventsPerSecond": -1,
                            "maxReadRequestsPerSecond": -1,
                            "webhooks": [],
                        }
                    ],
                }
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The ``PUSHER_*`` settings that point the bridge here."""
        return {
            "PUSHER_APP_ID": APP_ID,
            "PUSHER_KEY": APP_KEY,
            "PUSHER_SECRET": APP_SECRET,
            "PUSHER_HOST": "127.0.0.1",
            "PUSHER_PORT": str(self.port),
            "PUSHER_SSL": "false",
        }

    @property
    def overrides(self) -> dict[str, Any]:
        """The same, as ``load_settings(**overrides)`` arguments."""
        return {
            "pusher_app_id": APP_ID,
            "pusher_key": APP_KEY,
            "pusher_secret": APP_SECRET,
            "pusher_host": "127.0.0.1",
            "pusher_port": self.port,
            "pusher_ssl": False,
        }

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/app/{APP_KEY}?protocol=7&client=agentq-test&version=1"

    def start(self, timeout: float = 30.0) -> SoketiServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOKETI_")}
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [str(SOKETI), "start", f"--config={self.config}"],
                cwd=self.dir,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._ready, timeout, what="soketi to accept connections")
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"soketi exited:\n{self.log.read_text(errors='replace')[-2000:]}")
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """Kill the whole process group (SIGKILL: an abrupt outage, and quick)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


Authorizer = Callable[[str, str], str | None]


def sign_with_app_secret(socket_id: str, channel: str) -> str:
    """A private channel's ``auth`` made with the test app's secret (the ``pusher``
    library's own signature), for tests that do not exercise an auth endpoint."""
    import pusher

    client = pusher.Pusher(app_id=APP_ID, key=APP_KEY, secret=APP_SECRET)
    return str(client.authenticate(channel=channel, socket_id=socket_id)["auth"])


class Subscriber:
    """A websocket client speaking the Pusher protocol, in a thread: subscribes to
    channels and keeps every event it receives (``events``), in arrival order.

    ``auth(socket_id, channel)`` gives the signature of a ``private-`` channel (None: send
    none). Refusals (``pusher:subscription_error``, ``pusher:error``) are kept in
    ``refusals``; with ``strict`` (default) a refused channel fails ``__enter__``."""

    def __init__(
        self,
        url: str,
        channels: list[str],
        auth: Authorizer | None = None,
        strict: bool = True,
    ) -> None:
        self.url = url
        self.channels = channels
        self.auth = auth
        self.strict = strict
        self.socket_id = ""
        self.events: list[dict[str, Any]] = []
        self.subscribed: set[str] = set()
        self.refusals: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ws: Any = None

    def __enter__(self) -> Subscriber:
        from websockets.sync.client import connect

        self._ws = connect(self.url, open_timeout=10)
        first = json.loads(self._ws.recv(timeout=10))
        assert first["event"] == "pusher:connection_established", first
        self.socket_id = json.loads(first["data"])["socket_id"]
        for channel in self.channels:
            data = {"channel": channel}
            signature = None
            if self.auth is not None and channel.startswith("private-"):
                signature = self.auth(self.socket_id, channel)
            if signature is not None:
                data["auth"] = signature
            self._ws.send(json.dumps({"event": "pusher:subscribe", "data": data}))
        self._thread.start()
        wait_for(
            lambda: len(self.subscribed) + len(self.refusals) >= len(self.channels),
            10,
            what="subscriptions (or their refusals)",
        )
        if self.strict and self.refusals:
            self.__exit__()
            raise AssertionError(f"subscriptions refused: {self.refusals}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._ws.close()
        self._thread.join(5)

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        while not self._stop.is_set():
            try:
                raw = self._ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            msg = json.loads(raw)
            event = msg.get("event", "")
            if event == "pusher_internal:subscription_succeeded":
                self.subscribed.add(msg["channel"])
            elif event in ("pusher:subscription_error", "pusher:error"):
                self.refusals.append(msg)
            elif event == "pusher:ping":
                self._ws.send(json.dumps({"event": "pusher:pong", "data": {}}))
            elif not event.startswith("pusher"):
                with self._lock:
                    self.events.append(
                        {
                            "channel": msg.get("channel"),
                            "event": event,
                            "data": json.loads(msg["data"]),
                            "received_at": time.time(),
                        }
                    )

    def received(
        self, where: Callable[[dict[str, Any]], bool] = lambda e: True
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if where(e)]


def running_soketi(timeout: float = 30.0) -> Iterator[SoketiServer]:
    """The body of the ``soketi`` fixtures (tests/integration and tests/e2e conftest):
    skip without soketi, start one, kill it after the module."""
    require_soketi()
    server = SoketiServer().start(timeout=timeout)
    yield server
    server.stop()
