"""What a migration leaves in a database, read from its catalogs: the agent schema in
detail (``persistence/schema_snapshot.py``, as ``sync_schemas`` compares it) and the whole
database by name. Migration tests compare these before and after."""

from __future__ import annotations

SYSTEM = "('pg_catalog', 'information_schema', 'pg_toast')"
# The whole database, not only the agent schema: a revision may create a schema (0004's
# auth shim), grant on one, or add a table to a publication. Grants are compared as
# effective (NULL is the owner's default, the same as after REVOKE of everything else).
WHOLE_DB = {
    "namespaces": f"SELECT nspname, coalesce(obj_description(oid, 'pg_namespace'), '')"
    f" || ' ' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname NOT IN {SYSTEM}"
    " AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'",
    "relations": "SELECT n.nspname || '.' || c.relname, c.relkind::text || ' '"
    " || coalesce(c.relacl, acldefault('r', c.relowner))::text FROM pg_class c"
    f" JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN {SYSTEM}",
    "functions": "SELECT n.nspname || '.' || p.proname || '('"
    " || pg_get_function_identity_arguments(p.oid) || ')', md5(p.prosrc) FROM pg_proc p"
    f" JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN {SYSTEM}",
    "types": "SELECT n.nspname || '.' || t.typname, t.typtype::text FROM pg_type t"
    f" JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname NOT IN {SYSTEM}",
    "triggers": "SELECT tgrelid::regclass::text || '.' || tgname, pg_get_triggerdef(oid)"
    " FROM pg_trigger WHERE NOT tgisinternal",
    "policies": "SELECT polrelid::regclass::text || '.' || polname, polcmd::text FROM pg_policy",
    "publications": "SELECT p.pubname || ':' || r.prrelid::regclass::text, ''"
    " FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid",
    "event triggers": "SELECT evtname, evtevent FROM pg_event_trigger",
    "default privileges": "SELECT defaclrole::regrole::text || ':' || defaclobjtype::text,"
    " defaclacl::text FROM pg_default_acl",
}


def catalog(url: str) -> dict[str, dict[str, str]]:
    """Everything a migration can leave behind, by kind and name (the agent schema in
    detail, as ``sync_schemas`` compares it, and the whole database by name)."""
    from sqlalchemy import create_engine, text

    from persistence import schema_snapshot

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            out = {f"public {k}": v for k, v in schema_snapshot.snapshot(conn).items()}
            for kind, query in WHOLE_DB.items():
                out[kind] = {str(a): str(b) for a, b in conn.execute(text(query)).all()}
    finally:
        engine.dispose()
    return out


def changed(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    """One line per object that differs between two catalogs (empty: the same)."""
    return [
        f"{kind} {name}: {before[kind].get(name)!r} -> {after[kind].get(name)!r}"
        for kind in before
        for name in sorted(before[kind].keys() | after[kind].keys())
        if before[kind].get(name) != after[kind].get(name)
    ]
