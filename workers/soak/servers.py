"""Throwaway PostgreSQL and Redis servers of our own, on ports we choose.

Real servers (Debian's PostgreSQL binaries, ``redis-server``) that the soak (and the
fault tests) may stop, start and kill at will; the machine's shared servers are never
touched. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"PostgreSQL binary {name!r} not found (apt-get install postgresql)")


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _wait_port(host: str, port: int, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start on {host}:{port}")


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, trust auth, on ``host:port``."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="agentq-pg-"))
        self.datadir = self.dir / "data"
        self.log = self.dir / "pg.log"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        initdb = [_pg_bin("initdb"), "-D", str(self.datadir), "-U", "postgres"]
        initdb += ["--auth=trust", "-E", "UTF8", "--no-sync"]
        subprocess.run(_as_postgres(initdb), check=True, capture_output=True)
        if host != "127.0.0.1":  # trust the soak's own network too
            with (self.datadir / "pg_hba.conf").open("a") as fh:
                fh.write(f"host all all {host.rsplit('.', 1)[0]}.0/24 trust\n")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses={self.host} -c fsync=off"
        cmd = [_pg_bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.log), "-o", opts]
        subprocess.run(
            _as_postgres([*cmd, "-w", "-t", "30", "start"]), check=True, capture_output=True
        )

    def stop(self, mode: str = "fast") -> None:
        cmd = [_pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]
        subprocess.run(_as_postgres(cmd), capture_output=True)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A ``redis-server`` on ``host:port``; no persistence unless ``extra_args`` say so."""

    def __init__(
        self, port: int | None = None, extra_args: list[str] | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", self.host, "--save", ""]
        args += ["--appendonly", "no", "--maxmemory-policy", "noeviction"]
        if self.host != "127.0.0.1":  # the soak's own network: only its namespaces reach it
            args += ["--protected-mode", "no"]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.host, self.port, "redis-server")
        self._wait_loaded()

    def _wait_loaded(self, timeout: float = 60.0) -> None:
        """Until Redis has loaded its AOF / RDB (it answers LOADING meanwhile)."""
        import redis

        # A server started with --requirepass wants the password before it answers at all.
        args = self.extra_args
        password = args[args.index("--requirepass") + 1] if "--requirepass" in args else None
        client = redis.Redis(host=self.host, port=self.port, password=password, socket_timeout=2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            client.close()

    def stop(self) -> None:
        """Graceful: SIGTERM, which makes Redis write its AOF / RDB before it exits."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-conversation, as in a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
