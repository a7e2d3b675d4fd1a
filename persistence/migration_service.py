"""MigrationService: the integration design's API over Alembic.

``run_migrations`` is idempotent and safe to run from several processes at once: it
reads the current revision and applies what is missing under the migration lock
(``persistence/migration_lock.py``), so a late process finds the database at head and
applies nothing; :meth:`MigrationService.locked` holds the lock across several calls
(``agentq migrate`` applies one revision at a time under one hold). It creates the
database first when it does not exist yet. ``downgrade`` goes the other way (to
``base``: nothing of ours is left). ``sync_schemas`` compares the primary with its
Supabase mirror and can bring the mirror up to the primary's revision. A service for
the configured databases: ``workers.stores.get_migration_service``.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from psycopg import sql
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection, make_url

from persistence import migration_lock, schema_snapshot
from persistence.errors import DatabaseUnavailable, PersistenceError, wrap_db_errors
from persistence.schema import metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class MigrationError(PersistenceError):
    """A migration request that cannot be carried out as asked (unknown revision, wrong
    direction); the message says what is wrong."""


class MirrorUnavailable(DatabaseUnavailable):
    """The mirror's database (not the primary) cannot be reached; the message names it."""


@contextlib.contextmanager
def _alembic_errors() -> Iterator[None]:
    try:
        yield
    except (CommandError, RevisionError) as exc:  # unknown or ambiguous revision …
        raise MigrationError(str(exc)) from exc


def _known(script: ScriptDirectory, current: str | None) -> None:
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        raise MigrationError(
            f"the database is at revision {current}, which this code does not know "
            "(migrated by a newer version?)"
        )


def describe(rev: Script) -> str:
    """A revision's one-line description: the first paragraph of its docstring."""
    return " ".join((rev.doc or "").split())


class MigrationService:
    """Apply, inspect and create schema migrations for the database at ``database_url``
    (SQLAlchemy spelling, ``postgresql+psycopg://…``)."""

    def __init__(
        self, database_url: str, *, enable_rls: bool | None = None, mirror_url: str | None = None
    ) -> None:
        self.database_url = database_url
        # The Supabase mirror's database (SQL), compared and synced by sync_schemas.
        self.mirror_url = mirror_url
        # Migration 0004 (Row Level Security) runs only when this is true; None: the
        # SUPABASE_ENABLE_RLS environment variable decides (default true).
        self.enable_rls = enable_rls
        # The connection holding the migration lock, inside ``locked()``.
        self._held: Connection | None = None

    @contextlib.contextmanager
    def locked(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the migration lock of the database until the block ends (re-entrant):
        every status read and revision applied inside runs on the connection holding it,
        so what is read cannot change before it is acted on. ``on_wait`` is called when
        another process holds the lock, before waiting for it. The database must exist
        (:meth:`ensure_database`)."""
        if self._held is not None:
            yield
            return
        with wrap_db_errors(), migration_lock.hold(self.database_url, on_wait) as conn:
            self._held = conn
            try:
                yield
            finally:
                self._held = None

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """The lock's connection inside ``locked()`` (committed after, so that it is idle
        for Alembic), else a connection of its own."""
        if self._held is not None:
            yield self._held
            self._held.commit()
            return
        engine = create_engine(self.database_url, poolclass=pool.NullPool)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def _config(self, stdout: Any = None) -> Config:
        cfg = Config(stdout=stdout) if stdout is not None else Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
        # ConfigParser interpolation: a literal % in the URL (an escaped password) needs %%.
        cfg.set_main_option("sqlalchemy.url", self.database_url.replace("%", "%%"))
        if self.enable_rls is not None:
            cfg.attributes["enable_rls"] = self.enable_rls
        if self._held is not None:  # migrations run on the connection holding the lock
            cfg.attributes["connection"] = self._held
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
                raise DatabaseUnavailable(str(exc).strip().splitlines()[0]) from exc

    def run_migrations(self, target_revision: str = "head") -> dict[str, Any]:
        """Upgrade to ``target_revision`` under the migration lock, reading the current
        revision after taking it. Returns ``applied`` (the revisions the database moved
        through, in order), ``from``, ``to``, ``already_at_head`` (nothing applied and the
        database at head: another process got there first, or an earlier run),
        ``waited_seconds`` (for another process's lock) and ``duration_seconds``. A target
        below the current revision is refused (:meth:`downgrade` goes down)."""
        started = time.monotonic()
        if self._held is None:
            self.ensure_database()
        asked = time.monotonic()
        with self.locked():
            waited = round(time.monotonic() - asked, 3)
            status = self.get_migration_status()
            before = status["current"]
            step = self.plan(target_revision, current=before)
            if step["direction"] == "down":
                raise MigrationError(
                    f"{target_revision} is below the current revision {before}: "
                    "downgrade it explicitly (agentq migrate --revision REV --yes)"
                )
            if step["direction"] == "up":
                with wrap_db_errors(), _alembic_errors():
                    command.upgrade(self._config(), step["to"] or "base")
            after = self.get_migration_status()["current"]
        return {
            "applied": self._between(before, after),
            "from": before,
            "to": after,
            "already_at_head": before == after == status["head"],
            "waited_seconds": waited,
            "duration_seconds": round(time.monotonic() - started, 3),
        }

    def downgrade(self, target_revision: str) -> dict[str, Any]:
        """Downgrade to ``target_revision`` (``base``: nothing of ours is left, the
        ``alembic_version`` table included), under the migration lock like
        :meth:`run_migrations`. Returns ``removed`` (newest first), ``from``, ``to`` and
        ``duration_seconds``."""
        started = time.monotonic()
        with self.locked():
            before = self.get_migration_status()["current"]
            step = self.plan(target_revision, current=before)
            if step["direction"] == "up":
                raise MigrationError(f"{target_revision} is above the current revision {before}")
            with wrap_db_errors(), _alembic_errors():
                if step["direction"] == "down":
                    command.downgrade(self._config(), step["to"] or "base")
                if step["to"] is None:
                    self._drop_version_table()
            after = self.get_migration_status()["current"]
        return {
            "removed": [s["revision"] for s in step["steps"]] if before != after else [],
            "from": before,
            "to": after,
            "duration_seconds": round(time.monotonic() - started, 3),
        }

    def plan(self, target_revision: str, *, current: str | None = None) -> dict[str, Any]:
        """Which way ``target_revision`` lies from ``current`` (default: the database's)
        and the revisions on the way, each with its one-line description: ``direction``
        (up, down or none), ``from``, ``to`` (None for base), ``steps`` in the order
        they would run (a downgrade lists the newest first)."""
        with _alembic_errors():
            return self._plan(target_revision, current)

    def _plan(self, target_revision: str, current: str | None) -> dict[str, Any]:
        script = ScriptDirectory.from_config(self._config())
        to = self._resolve(script, target_revision)
        if current is None:
            current = self.get_migration_status()["current"]
        _known(script, current)
        if to == current:
            return {"direction": "none", "from": current, "to": to, "steps": []}
        down = to is None or (
            current is not None
            and to in {r.revision for r in script.iterate_revisions(current, "base")}
        )
        if down:
            revs = [r for r in script.iterate_revisions(current, to or "base") if r.revision != to]
        else:
            revs = list(
                reversed(
                    [
                        r
                        for r in script.iterate_revisions(to, current or "base")
                        if r.revision != current
                    ]
                )
            )
        return {
            "direction": "down" if down else "up",
            "from": current,
            "to": to,
            "steps": [{"revision": r.revision, "description": describe(r)} for r in revs],
        }

    @staticmethod
    def _resolve(script: ScriptDirectory, target: str) -> str | None:
        if target == "base":
            return None
        if target in ("head", "heads"):
            return script.get_current_head()
        rev = script.get_revision(target)  # a unique prefix of an id is enough
        return None if rev is None else rev.revision

    def _between(self, older: str | None, newer: str | None) -> list[str]:
        if older == newer or newer is None:
            return []
        script = ScriptDirectory.from_config(self._config())
        revs = [r.revision for r in script.iterate_revisions(newer, older or "base")]
        return [r for r in reversed(revs) if r != older]

    def _drop_version_table(self) -> None:
        """Alembic keeps an empty ``alembic_version`` at base; base means nothing of ours."""
        with self._connection() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            conn.commit()

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
        with wrap_db_errors(), self._connection() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        _known(script, current)
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

    def sync_schemas(self, *, apply: bool = False) -> dict[str, Any]:
        """Drift of the schemas, empty when there is none.

        Without a mirror: ``persistence.schema`` (the models) against the database.
        With one (``mirror_url``): also the primary against the mirror, by their Alembic
        revisions and by what their catalogs hold (``persistence/schema_snapshot.py``).
        ``apply=True`` upgrades a mirror that is behind to the primary's revision and
        compares again; a mirror ahead of the primary is reported, never downgraded.
        Returns ``in_sync``, ``differences`` (every line) and, with a mirror, ``primary``
        and ``mirror`` (URL without password, revision, drift against the models),
        ``missing_revisions`` (what the mirror lacks) and ``applied``."""
        primary = self._inspect()
        out: dict[str, Any] = {"in_sync": True, "differences": list(primary["models"])}
        if self.mirror_url is None:
            out["in_sync"] = not out["differences"]
            return out
        mirror = MigrationService(self.mirror_url, enable_rls=self.enable_rls)
        applied: list[str] = []
        try:
            if apply:
                mirror.ensure_database()
            second = mirror._inspect()
            behind = self._behind(second["revision"], primary["revision"])
            if apply and behind:
                applied = mirror.run_migrations(primary["revision"])["applied"]
                second = mirror._inspect()
                behind = self._behind(second["revision"], primary["revision"])
        except DatabaseUnavailable as exc:
            raise MirrorUnavailable(f"mirror {mirror._redacted()} unreachable: {exc}") from exc
        # The mirror's own drift from the models stays in out["mirror"]["models"]: the
        # catalog comparison below already lists every object it lacks or differs in.
        lines = [f"primary (models): {d}" for d in primary["models"]]
        if second["revision"] != primary["revision"]:
            lines.append(
                f"revision: primary at {primary['revision']}, mirror at {second['revision']}"
            )
        lines += schema_snapshot.diff(primary["snapshot"], second["snapshot"])
        public = {k: v for k, v in primary.items() if k != "snapshot"}
        return {
            "in_sync": not lines,
            "differences": lines,
            "primary": {"url": self._redacted(), **public},
            "mirror": {
                "url": mirror._redacted(),
                **{k: v for k, v in second.items() if k != "snapshot"},
            },
            "missing_revisions": behind,
            "applied": applied,
        }

    def _inspect(self) -> dict[str, Any]:
        """The database's revision, its catalog snapshot and its drift from the models."""
        engine = create_engine(self.database_url, poolclass=pool.NullPool)
        try:
            with wrap_db_errors(), engine.connect() as conn:
                ctx = MigrationContext.configure(
                    conn, opts={"compare_type": True, "compare_server_default": False}
                )
                revision = ctx.get_current_revision()
                diffs = compare_metadata(ctx, metadata)
                snap = schema_snapshot.snapshot(conn)
        finally:
            engine.dispose()
        return {"revision": revision, "models": [_describe(d) for d in diffs], "snapshot": snap}

    def _behind(self, mirror_rev: str | None, primary_rev: str | None) -> list[str]:
        """The revisions the mirror lacks to reach the primary's (empty when it is at it,
        ahead of it or on another line)."""
        if mirror_rev == primary_rev or primary_rev is None:
            return []
        script = ScriptDirectory.from_config(self._config())
        ancestors = {r.revision for r in script.iterate_revisions(primary_rev, "base")}
        if mirror_rev is not None and mirror_rev not in ancestors:
            return []
        return self._between(mirror_rev, primary_rev)

    def _redacted(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)

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
