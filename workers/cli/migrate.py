"""``agentq migrate``: create or upgrade the schema, one revision at a time with progress.

Each pending revision is applied on its own (Alembic, under the advisory lock of
``persistence/migrations/env.py``), so a long one on a large database shows which
revision is running and for how long. Exit codes are ``agentq``'s: 0 done (or drift-free
with ``--check``), 1 a migration failed or drift found, 4 database unreachable.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from workers.cli import common


def apply_migrations(service: Any, revision: str, console: Console) -> dict[str, Any]:
    """Apply the revisions between the database's and ``revision`` one by one, with a
    progress bar on ``console``; returns ``{"from", "to", "applied"}``."""
    with console.status("reading migration status…"):
        service.ensure_database()
        before = service.get_migration_status()
    pending = before["pending"] if revision in ("head", before["head"]) else [revision]
    applied: list[str] = []
    if pending:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
        with Progress(*columns, MofNCompleteColumn(), TimeElapsedColumn(), console=console) as p:
            bar = p.add_task("migrating", total=len(pending))
            for rev in pending:
                p.update(bar, description=f"applying {rev}")
                service.run_migrations(rev)
                applied.append(rev)
                p.advance(bar)
    current = service.get_migration_status()["current"]
    return {"from": before["current"], "to": current, "applied": applied}


@click.command()
@click.option("--sql", "as_sql", is_flag=True, help="Print the SQL instead of applying it.")
@click.option("--status", "show_status", is_flag=True, help="Show current and pending revisions.")
@click.option("--check", is_flag=True, help="Report drift between the models and the database.")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--json", "as_json", is_flag=True, help="Print what was applied as JSON.")
@click.option(
    "--supabase-dir",
    type=click.Path(file_okay=False),
    help="Write the revisions as Supabase CLI migration files into this directory.",
)
def migrate(
    as_sql: bool,
    show_status: bool,
    check: bool,
    revision: str,
    as_json: bool,
    supabase_dir: str | None,
) -> None:
    """Create or upgrade the schema in DATABASE_URL (idempotent, safe to run concurrently)."""
    from persistence.errors import DatabaseUnavailable, PersistenceError
    from persistence.migration_service import MigrationService
    from workers.settings import redact_url

    settings = common.load_settings()
    if supabase_dir:
        from persistence.supabase_migrations import render_supabase_migrations

        rls = settings.supabase_enable_rls
        for path in render_supabase_migrations(supabase_dir, enable_rls=rls):
            click.echo(str(path))
        return
    service = MigrationService(settings.sqlalchemy_url, enable_rls=settings.supabase_enable_rls)
    target = redact_url(settings.database_url.get_secret_value())
    try:
        if as_sql:
            click.echo(service.render_sql(revision))
            return
        if show_status:
            common.print_json(service.get_migration_status())
            return
        if check:
            drift = service.sync_schemas()
            common.print_json(drift)
            sys.exit(0 if drift["in_sync"] else common.EXIT_INVALID)
        console = common.err_console if as_json else common.console
        done = apply_migrations(service, revision, console)
    except DatabaseUnavailable as exc:
        common.fail(f"database {target} unreachable: {exc}", common.EXIT_UNAVAILABLE)
    except PersistenceError as exc:
        common.fail(f"migration failed on {target}: {exc}", common.EXIT_INVALID)
    if as_json:
        common.print_json({"database": target, **done})
        return
    applied = f"applied {', '.join(done['applied'])}; " if done["applied"] else "already "
    console.print(f"[green]database {target}: {applied}at {done['to']}[/]", highlight=False)
