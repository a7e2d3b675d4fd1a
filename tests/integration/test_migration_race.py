"""`agentq migrate` started several times at once (a deploy's replicas, compose's
``migrate`` beside an init job) on a fresh database: every run exits 0, one applies the
revisions, the others wait for the migration lock and find the database at head; the
schema is exactly what one run makes. Real processes on the machine's PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine

from persistence import migration_lock
from persistence.migration_service import MigrationService
from tests.conftest import PG_ADMIN
from tests.support.catalog import catalog, changed

ROOT = Path(__file__).resolve().parents[2]
SERVER = PG_ADMIN.rsplit("/", 1)[0]
RUNS = 5  # concurrent `agentq migrate` per round
# 20 rounds took 259 and 378 s on this busy 2-core machine; 6 take 80-110 s, and the
# deterministic tests above catch a revision read before the lock every time.
ROUNDS = int(os.environ.get("AGENTQ_TEST_MIGRATE_ROUNDS", "6"))


@pytest.fixture
def names() -> Iterator[Callable[[], str]]:
    """Fresh database names (none created yet); every one is dropped afterwards."""
    made: list[str] = []

    def new() -> str:
        made.append(f"agentq_race_{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield new
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _start(name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "migrate", "--json"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"{SERVER}/{name}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(
    procs: list[subprocess.Popen[str]], said: list[str] | None = None
) -> list[dict[str, object]]:
    """Every run's JSON report, after asserting that each exited 0 (its stderr, what it
    told a person, appended to ``said``)."""
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0] * len(procs), [err for _, err in outs]
    if said is not None:
        said += [err for _, err in outs]
    return [json.loads(out) for out, _ in outs]


def _waiting_for_the_lock(name: str) -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = %s",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_late_runs_read_the_revision_after_taking_the_lock(names: Callable[[], str]) -> None:
    """Deterministic: the test holds the lock while RUNS migrates start and queue behind
    it, migrates the database to head itself, then lets go. A run that had read the
    revision (or planned its steps) before the lock would now ask for a revision below
    the current one; every run must instead say it is already at head."""
    name = names()
    service = MigrationService(f"{SERVER}/{name}")
    service.ensure_database()
    engine = create_engine(service.database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            migration_lock.take(conn)
            procs = [_start(name) for _ in range(RUNS)]
            deadline = time.monotonic() + 120
            while _waiting_for_the_lock(name) < RUNS:
                assert time.monotonic() < deadline, "the runs never queued for the lock"
                assert all(p.poll() is None for p in procs), "a run ended without the lock"
                time.sleep(0.1)
            cfg = service._config()
            cfg.attributes["connection"] = conn  # migrate on the connection holding the lock
            command.upgrade(cfg, "head")
            migration_lock.release(conn)
    finally:
        engine.dispose()
    head = service.get_migration_status()["head"]
    said: list[str] = []
    for report in _finish(procs, said):
        assert report["applied"] == [] and report["from"] == report["to"] == head, report
        assert report["already_at_head"] is True
    assert all("another migration holds the lock: waiting for it" in s for s in said), said


def test_run_migrations_reads_the_revision_after_the_lock(names: Callable[[], str]) -> None:
    """The API the fixtures, the soak and ``--sync`` use, in a process of its own: a
    ``run_migrations()`` that had to wait for the lock reports that it waited and that the
    database was already at head (it applied nothing)."""
    name = names()
    url = f"{SERVER}/{name}".replace("postgresql://", "postgresql+psycopg://")
    service = MigrationService(url)
    service.ensure_database()
    code = (
        "import json, sys; from persistence.migration_service import MigrationService; "
        "print(json.dumps(MigrationService(sys.argv[1]).run_migrations()))"
    )
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            migration_lock.take(conn)
            late = subprocess.Popen(
                [sys.executable, "-c", code, url], cwd=ROOT, stdout=subprocess.PIPE, text=True
            )
            deadline = time.monotonic() + 120
            while _waiting_for_the_lock(name) < 1:
                assert time.monotonic() < deadline and late.poll() is None, "never waited"
                time.sleep(0.1)
            cfg = service._config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            migration_lock.release(conn)
    finally:
        engine.dispose()
    out, _ = late.communicate(timeout=300)
    assert late.returncode == 0
    done = json.loads(out)
    head = service.get_migration_status()["head"]
    assert done["applied"] == [] and done["from"] == done["to"] == head, done
    assert done["already_at_head"] is True and done["waited_seconds"] > 0


@pytest.mark.timeout(900)
def test_concurrent_migrates_on_a_fresh_database_all_succeed_with_one_schema(
    names: Callable[[], str],
) -> None:
    """ROUNDS rounds of RUNS concurrent `agentq migrate` on a database that does not
    exist yet (they also race to create it). Before the lock was held from reading the
    revision, about one round in three had a run fail with "… is below the current
    revision …"."""
    reference = names()
    (one,) = _finish([_start(reference)])
    assert one["applied"]
    expected = catalog(f"{SERVER}/{reference}")
    everything = one["applied"]
    for round_no in range(ROUNDS):
        name = names()
        reports = _finish([_start(name) for _ in range(RUNS)])
        applied = sorted((r["applied"] for r in reports), key=len)  # type: ignore[arg-type,return-value]
        assert applied == [[]] * (RUNS - 1) + [everything], f"round {round_no}: {reports}"
        assert sum(r.get("already_at_head") is True for r in reports) == RUNS - 1
        assert changed(expected, catalog(f"{SERVER}/{name}")) == [], f"round {round_no}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_migrate_says_already_at_head_and_downgrades_serialize_too(
    names: Callable[[], str],
) -> None:
    """The CLI's words for a late run, and concurrent downgrades to base: one removes,
    the others find nothing left to remove."""
    name = names()
    url = f"{SERVER}/{name}"
    env = {**os.environ, "DATABASE_URL": url}
    cmd = [sys.executable, "-m", "workers.cli", "migrate"]
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    head = MigrationService(url).get_migration_status()["head"]
    assert again.returncode == 0 and f"already at head ({head})" in again.stdout, again.stdout

    down = [*cmd, "--revision", "base", "--yes", "--json"]
    procs = [
        subprocess.Popen(down, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    reports = [json.loads(o) for o in outs]
    assert [r["to"] for r in reports] == [None] * 3, reports
    # the late ones found nothing to move (a plan of nothing reports "applied": [])
    removed = sorted((r.get("removed") or r["applied"] for r in reports), key=len)
    assert removed[:2] == [[], []] and removed[2][-1] == "0001_initial", reports
    assert MigrationService(url).get_migration_status()["current"] is None
