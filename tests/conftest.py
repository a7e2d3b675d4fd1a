"""Shared fixtures: a fresh database and Redis DB for the session, real services only.

The environment is set here, before anything imports ``workers``, so that the
settings, the Celery app and every worker subprocess see the test servers. The
machine's PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) must be running;
under CI a missing one fails the run instead of skipping.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN = os.environ.get("AGENTQ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("AGENTQ_TEST_REDIS", "redis://127.0.0.1:6379")
TEST_DB = f"agentq_test_{os.getpid()}"
TEST_REDIS_DB = int(os.environ.get("AGENTQ_TEST_REDIS_DB", "9"))

_data_dir = tempfile.mkdtemp(prefix="agentq-test-")
_OWN = ("AGENTQ_", "SUPABASE_", "PUSHER_", "ENABLE_SUPABASE_INTEGRATION", "LOG_LEVEL", "LOG_FORMAT")
for _k in [k for k in os.environ if k.startswith(_OWN)]:
    if not _k.startswith("AGENTQ_TEST_"):
        del os.environ[_k]
os.environ.update(
    {
        "DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0] + "/" + TEST_DB,
        "CELERY_BROKER_URL": f"{REDIS_BASE}/{TEST_REDIS_DB}",
        "AGENTQ_DATA_DIR": _data_dir,
        "AGENTQ_RECORDER_CLAIM_IDLE_MS": "2000",
        "AGENTQ_HEARTBEAT_SECONDS": "1",
        "AGENTQ_VISIBILITY_TIMEOUT": "30",
    }
)


def _require(service: str, check: object) -> None:
    try:
        check()  # type: ignore[operator]
    except Exception as exc:
        msg = f"{service} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.exit(msg, returncode=3)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated database for the whole session (SQLAlchemy URL)."""
    import psycopg

    from persistence.migration_service import MigrationService
    from workers.settings import get_settings

    _require("PostgreSQL", lambda: psycopg.connect(PG_ADMIN, connect_timeout=3).close())
    url = get_settings().sqlalchemy_url
    MigrationService(url).run_migrations()
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_client() -> Iterator[object]:
    import redis

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    _require("Redis", client.ping)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def clean(database_url: str, redis_client: object) -> Iterator[str]:
    """Empty tables and an empty Redis DB before the test."""
    from tests.support.database import reset_recording

    reset_recording(database_url, redis_client)
    yield database_url


@pytest.fixture
def sql_store(clean: str) -> Iterator[object]:
    from persistence.sql_store import SQLStore

    store = SQLStore(clean, pool_size=2)
    yield store
    store.close()


def new_task_id() -> str:
    return str(uuid.uuid4())
