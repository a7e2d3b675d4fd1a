"""``agentq migrate``: create, upgrade or downgrade the schema, one revision at a time with
progress; compare the primary with its Supabase mirror and bring the mirror up.

Each revision is applied (or removed) on its own, so a long one on a large database shows
which revision is running and for how long. The whole run holds the database's migration
lock (``persistence/migration_lock.py``) from reading the current revision to the last
revision applied: runs started at once (a deploy's replicas) wait for each other, and a
late one finds the database at head ("already at head") instead of racing the first.
A ``--revision`` below the current one goes down, and only with ``--yes``: without it the
command exits 1 and lists what it would remove. Exit codes are ``agentq``'s: 0 done (or
drift-free with ``--check`` / ``--sync``), 1 a migration failed, drift found, a downgrade
refused or a setting that cannot be migrated (REST only), 4 database unreachable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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


def _progress(console: Console) -> Progress:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
    return Progress(*columns, MofNCompleteColumn(), TimeElapsedColumn(), console=console)


def _waiting(console: Console) -> Callable[[], None]:
    def say() -> None:
        console.print("another migration holds the lock: waiting for it…", highlight=False)

    return say


def apply_migrations(service: Any, revision: str, console: Console) -> dict[str, Any]:
    """Apply the revisions between the database's and ``revision`` (at or above it) one by
    one, with a progress bar on ``console``, all under one hold of the migration lock;
    returns ``{"from", "to", "head", "applied", "already_at_head", "duration_seconds"}``."""
    with console.status("reading migration status…"):
        service.ensure_database()
    with service.locked(on_wait=_waiting(console)):
        return _apply(service, revision, console)


def _apply(service: Any, revision: str, console: Console) -> dict[str, Any]:
    step = service.plan(revision)  # read under the lock: nobody moves it now
    applied: list[str] = []
    seconds = 0.0
    pending = [s["revision"] for s in step["steps"]] if step["direction"] == "up" else []
    if step["direction"] == "down":
        service.run_migrations(revision)  # refuses, naming the way down
    if pending:
        with _progress(console) as p:
            bar = p.add_task("migrating", total=len(pending))
            for rev in pending:
                p.update(bar, description=f"applying {rev}")
                done = service.run_migrations(rev)
                applied += done["applied"]
                seconds += done["duration_seconds"]
                p.advance(bar)
    status = service.get_migration_status()
    return {
        "from": step["from"],
        "to": status["current"],
        "head": status["head"],
        "applied": applied,
        "already_at_head": not applied and status["current"] == status["head"],
        "duration_seconds": round(seconds, 3),
    }


def remove_migrations(service: Any, step: dict[str, Any], console: Console) -> dict[str, Any]:
    """Downgrade along ``step`` (``service.plan``'s, direction down) one revision at a time."""
    revs = [s["revision"] for s in step["steps"]]
    targets = [*revs[1:], step["to"] or "base"]
    removed: list[str] = []
    seconds = 0.0
    with _progress(console) as p:
        bar = p.add_task("downgrading", total=len(revs))
        for rev, target in zip(revs, targets, strict=True):
            p.update(bar, description=f"removing {rev}")
            done = service.downgrade(target)
            removed += done["removed"]
            seconds += done["duration_seconds"]
            p.advance(bar)
    current = service.get_migration_status()["current"]
    return {
        "from": step["from"],
        "to": current,
        "removed": removed,
        "duration_seconds": round(seconds, 3),
    }


def refusal(target: str, step: dict[str, Any]) -> str:
    lines = [f"  {s['revision']}: {s['description']}" for s in step["steps"]]
    return (
        f"refusing to downgrade {target} from {step['from']} to {step['to'] or 'base'} without "
        "--yes; it would remove (data in what is dropped is lost):\n" + "\n".join(lines)
    )


def check_schemas(service: Any, settings: Any, *, apply: bool) -> None:
    """``--check`` / ``--sync``: print the drift as JSON and exit 0 (none) or 1."""
    from workers.stores import REST, REST_NEEDS_SQL, plan

    kind = plan(settings).mirror
    if apply and kind is None and service.mirror_url is None:
        common.fail("--sync brings the Supabase mirror up to the primary: no mirror is configured")
    if apply and kind == REST:
        common.fail(REST_NEEDS_SQL.format(role="mirror"))
    drift = service.sync_schemas(apply=apply)
    if kind == REST and service.mirror_url is None:
        # The REST mirror's schema cannot be read: say so instead of calling it in sync.
        drift["mirror"] = {
            "kind": REST,
            "compared": False,
            "reason": REST_NEEDS_SQL.format(role="mirror"),
        }
    common.print_json(drift)
    sys.exit(0 if drift["in_sync"] else common.EXIT_INVALID)


def _move(
    service: Any, revision: str, *, yes: bool, target: str, console: Console
) -> dict[str, Any]:
    """Up to ``revision``, or down to it with ``yes`` (exit 1 listing what it would remove
    without), planned and done under one hold of the migration lock."""
    with console.status("reading migration status…"):
        service.ensure_database()
    with service.locked(on_wait=_waiting(console)):
        step = service.plan(revision)
        if step["direction"] != "down":
            return _apply(service, revision, console)
        if not yes:
            common.fail(refusal(target, step))
        return remove_migrations(service, step, console)


@click.command()
@click.option("--sql", "as_sql", is_flag=True, help="Print the SQL instead of applying it.")
@click.option("--status", "show_status", is_flag=True, help="Show current and pending revisions.")
@click.option(
    "--check",
    is_flag=True,
    help="Report drift: models vs database, and the primary vs a SQL Supabase mirror "
    "(revisions and catalogs). Exit 1 on drift.",
)
@click.option(
    "--sync",
    is_flag=True,
    help="As --check, after upgrading a SQL Supabase mirror that is behind to the primary's "
    "revision.",
)
@click.option(
    "--revision",
    default="head",
    show_default=True,
    help="Target revision; below the current one it downgrades (needs --yes; base: remove all).",
)
@click.option("--yes", is_flag=True, help="Confirm a downgrade (it drops tables and data).")
@click.option(
    "--mirror",
    "on_mirror",
    is_flag=True,
    help="Act on the Supabase mirror's database (SUPABASE_DB_*) instead of the primary.",
)
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
    sync: bool,
    revision: str,
    yes: bool,
    on_mirror: bool,
    as_json: bool,
    supabase_dir: str | None,
) -> None:
    """Create, upgrade or downgrade the schema of the primary database (DATABASE_URL, or
    Supabase's with SUPABASE_DB_*); idempotent, safe to run concurrently."""
    from persistence.errors import DatabaseUnavailable, PersistenceError
    from persistence.migration_service import MigrationService, MirrorUnavailable
    from workers.settings import SettingsError, redact_url
    from workers.stores import get_migration_service

    settings = common.load_settings()
    rls = settings.supabase_enable_rls
    if supabase_dir:
        from persistence.supabase_migrations import render_supabase_migrations

        for path in render_supabase_migrations(supabase_dir, enable_rls=rls):
            click.echo(str(path))
        return
    if as_sql:  # offline: the URL only picks the dialect
        click.echo(MigrationService(settings.sqlalchemy_url, enable_rls=rls).render_sql(revision))
        return
    try:
        service = get_migration_service(settings, mirror=on_mirror)
    except SettingsError as exc:
        common.fail(str(exc))
    target = redact_url(
        settings.get_supabase_database_url() if on_mirror else settings.primary_database_url
    )
    console = common.err_console if as_json else common.console
    try:
        if show_status:
            common.print_json(service.get_migration_status())
            return
        if check or sync:
            check_schemas(service, settings, apply=sync)
        done = _move(service, revision, yes=yes, target=target, console=console)
    except MirrorUnavailable as exc:
        common.fail(str(exc), common.EXIT_UNAVAILABLE)
    except DatabaseUnavailable as exc:
        common.fail(f"database {target} unreachable: {exc}", common.EXIT_UNAVAILABLE)
    except PersistenceError as exc:
        common.fail(f"migration failed on {target}: {exc}", common.EXIT_INVALID)
    if as_json:
        common.print_json({"database": target, **done})
        return
    console.print(f"[green]database {target}: {_summary(done)}[/]", highlight=False)


def _summary(done: dict[str, Any]) -> str:
    """What a run did, for a person: "applied …; at R", "already at head (R)" …"""
    at = done["to"] or "base"
    moved = done.get("removed", done.get("applied"))
    if moved:
        verb = "removed" if "removed" in done else "applied"
        return f"{verb} {', '.join(moved)}; at {at}"
    if done.get("head") is not None and done["to"] == done["head"]:
        return f"already at head ({at})"
    return f"already at {at}"
