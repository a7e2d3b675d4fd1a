"""Alembic environment: online runs hold the migration lock
(``persistence/migration_lock.py``), so that two processes migrating at once apply each
revision exactly once. ``MigrationService`` passes the connection that already holds it
(the lock is re-entrant); a bare ``alembic`` or ``command.upgrade`` run takes it here."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from persistence import migration_lock
from persistence.schema import metadata

config = context.config
target_metadata = metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_engine(str(config.get_main_option("sqlalchemy.url")), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    migration_lock.take(connection)
    try:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.rollback()  # a failed revision left its transaction aborted
        migration_lock.release(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
