"""``agentq serve`` as a real subprocess, and an HTTP client for its JSON API (GET with a
bearer token, form POSTs), for the API, auth and private-channel tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from tests.support.servers import free_port
from tests.support.workers import ROOT

# At least 32 bytes: PyJWT warns about shorter HMAC keys.
JWT_SECRET = "agentq-test-jwt-secret-0123456789abcdef"


def token(
    sub: str | None = "user-a",
    role: str = "authenticated",
    ttl_s: float = 600,
    secret: str = JWT_SECRET,
    **claims: Any,
) -> str:
    """A Supabase-shaped HS256 token, made here with PyJWT (not with the code under test)."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {"role": role, "iat": now, "exp": now + timedelta(seconds=ttl_s)}
    if sub is not None:
        body["sub"] = sub
    body.update(claims)
    return jwt.encode(body, secret, algorithm="HS256")


class Served:
    """A running ``agentq serve``; ``stop()`` ends it with SIGTERM."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: every request is logged, and a full pipe would block the server.
        self.log = Path(tempfile.mkdtemp(prefix="agentq-serve-")) / "serve.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agentq serve exited: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise RuntimeError("agentq serve did not start listening") from None
                time.sleep(0.1)

    def request(
        self,
        path: str,
        *,
        bearer: str | None = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """GET (or POST ``form``) ``path``; the status and the JSON body."""
        all_headers = dict(headers or {})
        if bearer is not None:
            all_headers["Authorization"] = f"Bearer {bearer}"
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> str:
        """SIGTERM (SIGKILL if it does not end within 30 s); the server's log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return self.output()


class InProcess:
    """The server object of ``agentq serve`` on a real socket (port 0) in a thread of this
    process, for tests that look inside it (how many connections it serves) or send many
    requests; ``settings`` are ``load_settings(**overrides)`` over the test environment."""

    def __init__(self, **overrides: Any) -> None:
        import threading

        from workers.serve.server import serve
        from workers.settings import load_settings

        self.server = serve(load_settings(**overrides), "127.0.0.1", 0)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(30)
