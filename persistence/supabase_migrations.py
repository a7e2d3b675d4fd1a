"""The Alembic revisions as Supabase CLI migration files.

One file per revision, ``<14-digit timestamp>_<revision>.sql``, holding the SQL that
revision applies (Alembic's offline rendering) and the ``alembic_version`` update, so
that a database migrated by ``supabase migration up`` is at the same revision for
``agentq migrate`` (which then has nothing to do) and vice versa. The CLI wraps each
file in its own transaction and records it in ``supabase_migrations.schema_migrations``.

Timestamps come from the revision itself (its ``Create Date`` plus its position in
the history as seconds, kept strictly increasing), so regenerating gives identical
files: ``tests/integration/test_supabase_cli.py`` checks the committed ones never drift.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from alembic.script import Script, ScriptDirectory

from persistence.migration_service import MigrationService

MARKER = "-- agentq: generated from Alembic revision"
FILENAME = re.compile(r"^\d{14}_[A-Za-z0-9_]+\.sql$")
_CREATE_DATE = re.compile(r"Create Date:\s*(\d{4})-(\d{2})-(\d{2})")
_TS = "%Y%m%d%H%M%S"
# Offline rendering needs a URL for the dialect only; nothing connects.
_OFFLINE_URL = "postgresql+psycopg://offline/offline"


def _history(service: MigrationService) -> list[Script]:
    """The revisions from the first to the head, in the order they apply."""
    script = ScriptDirectory.from_config(service._config())
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def _timestamps(revisions: list[Script]) -> list[str]:
    out: list[str] = []
    previous: datetime | None = None
    for position, rev in enumerate(revisions, start=1):
        found = _CREATE_DATE.search(rev.module.__doc__ or "")
        if found:
            day = datetime(int(found[1]), int(found[2]), int(found[3]))
        else:
            day = previous or datetime(2026, 1, 1)
        stamp = day.replace(hour=0, minute=0, second=0) + timedelta(seconds=position)
        if previous is not None and stamp <= previous:
            stamp = previous + timedelta(seconds=1)
        previous = stamp
        out.append(stamp.strftime(_TS))
    return out


def _body(rendered: str) -> str:
    """Alembic's offline SQL without its BEGIN/COMMIT (the CLI runs each file in its
    own transaction) and without the empty statement after a file ending in ``;``."""
    lines = [ln.rstrip() for ln in rendered.strip().splitlines()]
    if lines and lines[0] == "BEGIN;":
        lines = lines[1:]
    if lines and lines[-1] == "COMMIT;":
        lines = lines[:-1]
    text = "\n".join(lines).strip() + "\n"
    return re.sub(r";;$", ";", text, flags=re.M)


def render_supabase_migrations(
    directory: str | Path, *, enable_rls: bool | None = None
) -> list[Path]:
    """Write one Supabase migration file per Alembic revision into ``directory``
    (created if missing) and remove generated files of revisions that no longer exist.
    ``enable_rls`` as for :class:`MigrationService` (None: ``SUPABASE_ENABLE_RLS``,
    default true). Returns the files, in order."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    service = MigrationService(_OFFLINE_URL, enable_rls=enable_rls)
    revisions = _history(service)
    written: list[Path] = []
    for rev, stamp in zip(revisions, _timestamps(revisions), strict=True):
        span = f"{rev.down_revision}:{rev.revision}" if rev.down_revision else rev.revision
        # Every line of the revision's docstring stays a comment (a wrapped one broke the SQL).
        doc = "".join(f"-- {line}\n" for line in rev.doc.splitlines())
        header = (
            f"{MARKER} {rev.revision} ({Path(rev.path).name}).\n"
            "-- Do not edit: regenerate with `agentq migrate --supabase-dir supabase/migrations`.\n"
            f"{doc}\n"
        )
        path = target / f"{stamp}_{rev.revision}.sql"
        path.write_text(header + _body(service.render_sql(span)))
        written.append(path)
    for stale in target.iterdir():
        if stale not in written and FILENAME.match(stale.name) and _generated(stale):
            stale.unlink()
    return written


def _generated(path: Path) -> bool:
    with path.open() as fh:
        return fh.readline().startswith(MARKER)
