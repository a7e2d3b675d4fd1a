"""The state of the embedded servers started by ``agentq up`` (or kept by ``agentq demo
--keep``): one JSON file, ``<state dir>/state.json``, with their URLs and, for every
process, its pid and start time (so a pid reused by another program is never taken for
ours, and never stopped).

The state directory is ``AGENTQ_STATE_DIR``, else ``<data dir>/embedded`` (the directory
the demo has always kept the embedded PostgreSQL's data in), so ``up``, ``down``, the demo
and every other command agree without a setting.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

# Stopped in this order by ``agentq down``: the clients first, the servers last.
ORDER = ("serve", "realtime", "beat", "worker", "redis", "postgres")
SERVERS = ("postgres", "redis")


def state_dir() -> Path:
    explicit = os.environ.get("AGENTQ_STATE_DIR")
    if explicit:
        return Path(explicit)
    from workers.settings import _default_data_dir

    return Path(os.environ.get("AGENTQ_DATA_DIR") or _default_data_dir()) / "embedded"


@dataclass
class Proc:
    pid: int
    started: float  # psutil's create_time: tells our process from a reused pid
    log: str = ""

    @classmethod
    def of(cls, pid: int, log: str | Path = "") -> Proc:
        return cls(pid, psutil.Process(pid).create_time(), str(log))

    def alive(self) -> bool:
        try:
            p = psutil.Process(self.pid)
            return p.create_time() == self.started and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


@dataclass
class State:
    root: Path
    database_url: str = ""
    broker_url: str = ""
    procs: dict[str, Proc] = field(default_factory=dict)
    page: dict[str, Any] = field(default_factory=dict)  # port, user, secret

    @property
    def path(self) -> Path:
        return self.root / "state.json"

    @classmethod
    def load(cls, root: Path | None = None) -> State:
        """The recorded state (empty when nothing was recorded)."""
        root = root or state_dir()
        try:
            raw = json.loads((root / "state.json").read_text())
        except (OSError, ValueError):
            return cls(root)
        procs = {k: Proc(**v) for k, v in raw.get("procs", {}).items()}
        return cls(
            root, raw.get("database_url", ""), raw.get("broker_url", ""), procs, raw.get("page", {})
        )

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = {
            "database_url": self.database_url,
            "broker_url": self.broker_url,
            "procs": {k: asdict(v) for k, v in self.procs.items()},
            "page": self.page,
        }
        tmp = self.path.with_suffix(".tmp")
        # 0600: the page's token secret is in it.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        tmp.replace(self.path)

    def forget(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def running(self) -> dict[str, Proc]:
        return {k: p for k, p in self.procs.items() if p.alive()}

    def gone(self) -> list[str]:
        """Recorded processes that are no longer there (stale state)."""
        return [k for k, p in self.procs.items() if not p.alive()]

    def servers_up(self) -> bool:
        return all(name in self.procs and self.procs[name].alive() for name in SERVERS)

    def exports(self) -> list[str]:
        return [
            f"export DATABASE_URL='{self.database_url}'",
            f"export CELERY_BROKER_URL='{self.broker_url}'",
        ]


def database_configured() -> bool:
    """Whether the environment names the primary database: DATABASE_URL, or Supabase's
    (its database by SUPABASE_DB_HOST, or its REST API alone by SUPABASE_URL)."""
    return any(os.environ.get(k) for k in ("DATABASE_URL", "SUPABASE_DB_HOST", "SUPABASE_URL"))


def use_embedded_when_unset() -> str | None:
    """With ``DATABASE_URL`` / ``CELERY_BROKER_URL`` unset, point them at the servers of
    ``agentq up`` when those are up (in ``os.environ``, so child processes agree).
    Returns ``None`` when done or nothing was needed, else (both unset, nothing up) a
    one-line message saying how to start them. With one of them set and nothing up, the
    other keeps its default, as before ``agentq up`` existed."""
    need_db = not database_configured()
    need_broker = not os.environ.get("CELERY_BROKER_URL")
    if not (need_db or need_broker):
        return None
    state = State.load()
    if not state.servers_up():
        if not (need_db and need_broker):
            # a deployment of its own (one of them set): the unset one keeps its default,
            # and a command that does not use it (migrate: no broker) is not refused
            return None
        unset = " and ".join(
            n for n, need in (("DATABASE_URL", need_db), ("CELERY_BROKER_URL", need_broker)) if need
        )
        stale = " (their recorded processes are gone)" if state.procs else ""
        return (
            f"{unset} unset and the embedded servers are not running{stale}:"
            f" start them with `agentq up` (state dir {state.root}), or set {unset}"
        )
    if need_db:
        os.environ["DATABASE_URL"] = state.database_url
    if need_broker:
        os.environ["CELERY_BROKER_URL"] = state.broker_url
    from workers.settings import get_settings

    get_settings.cache_clear()
    return None
