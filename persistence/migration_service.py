"""MigrationService: the integration design's API over Alembic.

``run_migrations`` is idempotent and safe to run from several processes at once
(``persistence/migrations/env.py`` holds an advisory lock); it creates the
database first when it does not exist yet.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from persistence.errors import wrap_db_errors
from persistence.schema import metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class MigrationService:
    """Apply, inspect and create schema migrations for the database at ``database_url``
    (SQLAlchemy spelling, ``postgresql+psycopg://…``)."""

    def __init__(self, database_url: str, *, enable_rls: bool | None = None) -> None:
        self.database_url = database_url
        # Migration 0004 (Row Level Security) runs only when this is true; None: the
        # SUPABASE_ENABLE_RLS environment variable decides (default true).
        self.enable_rls = enable_rls

    def _config(self, stdout: Any = None) -> Config:
        cfg = Config(stdout=stdout) if stdout is not None else Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
        # ConfigParser interpolation: a literal % in the URL (an escaped password) needs %%.
        cfg.set_main_option("sqlalchemy.url", self.database_url.replace("%", "%%"))
        if self.enable_rls is not None:
            cfg.attributes["enable_rls"] = self.enable_rls
        return cfg

    def ensure_database(self) -> bool:
        """Create the target database if it is missing; True when it was created."""
        url = make_url(self.database_url)
        name = url.database or "postgres"
        admin = url.set(drivername="postgresql", database="postgres")
        conninfo = admin.render_as_string(hide_password=False)
        with wrap_db_errors():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                    ).fetchone()
                    if exists:
                        return False
                    # Two processes may race here: the loser sees DuplicateDatabase or,
                    # inside the catalog, a unique violation on pg_database.
                    with contextlib.suppress(
                        psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation
                    ):
                        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    return True
            except psycopg.OperationalError as exc:
                from persistence.errors import DatabaseUnavailable

                raise DatabaseUnavailable(str(exc).strip().splitlines()[0]) from exc

    def run_migrations(self, target_revision: str = "head") -> str | None:
        """Upgrade to ``target_revision``; returns the revision the database is at."""
        self.ensure_database()
        with wrap_db_errors():
            command.upgrade(self._config(), target_revision)
        return self.get_migration_status()["current"]

    def render_sql(self, target_revision: str = "head") -> str:
        """The SQL that ``run_migrations`` would apply to an empty database (offline);
        ``target_revision`` may be a range ``from:to``."""
        buf = io.StringIO()
        cfg = self._config(stdout=buf)
        cfg.output_buffer = buf  # offline SQL goes to output_buffer (stdout by default)
        command.upgrade(cfg, target_revision, sql=True)
        return buf.getvalue()

    def get_migration_status(self) -> dict[str, Any]:
        """Current and head revisions, and the revisions still to apply."""
        script = ScriptDirectory.from_config(self._config())
        head = script.get_current_head()
        engine = create_engine(self.database_url, poolclass=pool.NullPool)
        try:
            with wrap_db_errors(), engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
        finally:
            engine.dispose()
        pending = [
            rev.revision
            for rev in script.iterate_revisions(head, current)
            if rev.revision != current
        ]
        return {
            "current": current,
            "head": head,
            "pending": list(reversed(pending)),
            "up_to_date": current == head,
        }

    def sync_schemas(self) -> dict[str, Any]:
        """Drift between ``persistence.schema`` and the live database (empty when equal)."""
        engine = create_engine(self.database_url, poolclass=pool.NullPool)
        try:
            with wrap_db_errors(), engine.connect() as conn:
                ctx = MigrationContext.configure(
                    conn, opts={"compare_type": True, "compare_server_default": False}
                )
                diffs = compare_metadata(ctx, metadata)
        finally:
            engine.dispose()
        described = [_describe(d) for d in diffs]
        return {"in_sync": not described, "differences": described}

    def create_migration(self, message: str, autogenerate: bool = True) -> str:
        """Write a new revision file (autogenerated from the models); returns its path."""
        with wrap_db_errors():
            script = command.revision(self._config(), message=message, autogenerate=autogenerate)
        if isinstance(script, list):
            script = script[0]
        return str(script.path) if script is not None else ""


def _describe(diff: Any) -> str:
    if isinstance(diff, tuple):
        kind = diff[0]
        rest = ", ".join(str(getattr(x, "name", x)) for x in diff[1:])
        return f"{kind}: {rest}"
    return " ; ".join(_describe(d) for d in diff)
