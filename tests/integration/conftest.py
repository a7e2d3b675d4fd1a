"""Fixtures the integration modules share (the session's database and Redis are in
tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import PG_ADMIN
from tests.support.soketi import SoketiServer, running_soketi


@pytest.fixture(scope="module")
def soketi() -> Iterator[SoketiServer]:
    """A real Pusher-protocol server for the module (skipped without ``npm install``)."""
    yield from running_soketi()


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    """Names of an `agentq migrate` database and an empty one for the CLI."""
    names = [f"agentq_sb_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{names[1]}"')
    yield names[0], names[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
