"""The migration lock: one process migrates a database at a time.

Deploys start migrations concurrently (compose's ``migrate`` beside an init job, several
replicas each running ``agentq migrate``). Each process reads the current revision, plans
the revisions to apply and applies them one by one. Two processes that both read revision
0006 and plan 0007, 0008, 0009 race: the slower one asks for 0007 after the faster one
reached 0008, which looks like a downgrade and was refused ("0007 is below the current
revision 0008").

So a migrating process first takes a PostgreSQL advisory lock and only then reads the
current revision, and holds the lock until its last revision is applied: a late process
waits, then finds the database at its target and has nothing to do. The lock is
session-level (``pg_advisory_lock``), on the connection the migrations themselves run on,
because every revision commits its own transaction: a transaction-level lock would be let
go between reading the revision and applying the next one. A session lock is re-entrant
(taken twice by one session, it needs two unlocks), so ``persistence/migrations/env.py``
takes it too, for Alembic commands run directly on a connection of their own; and a
process that dies holding it lets it go with its connection.

Advisory locks are per database: migrating the primary and the mirror (another database)
never wait for each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

# Any constant works; it only has to be the same for every migrating process.
LOCK_ID = 0x6167656E74  # "agent"


def take(connection: Connection) -> None:
    """Take the lock on ``connection`` (waiting for whoever holds it) and commit."""
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_ID})
    connection.commit()


def release(connection: Connection) -> None:
    """Let go of one hold of the lock on ``connection``."""
    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_ID})
    connection.commit()


@contextlib.contextmanager
def hold(database_url: str, on_wait: Callable[[], None] | None = None) -> Iterator[Connection]:
    """A connection to ``database_url`` holding the lock until the block ends.

    ``on_wait`` is called once when another process holds it (before waiting for it), so
    that a command can say why it is not moving."""
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            free = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_ID}).scalar()
            conn.commit()
            if not free:
                if on_wait is not None:
                    on_wait()
                take(conn)
            try:
                yield conn
            finally:
                # A broken connection has let go of the lock already (closing it does).
                with contextlib.suppress(DBAPIError):
                    conn.rollback()
                    release(conn)
    finally:
        engine.dispose()
