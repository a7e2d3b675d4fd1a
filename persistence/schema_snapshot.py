"""What a database's agent schema actually holds, read from the catalogs, and the drift
between two of them (the primary and the Supabase mirror: ``MigrationService.sync_schemas``).

A snapshot is ``{kind: {name: definition}}`` for every table, column, index, constraint,
function, trigger, type, RLS flag, policy and publication membership in one schema
(``current_schema()``, ``public`` for us). Objects that belong to an extension are left
out: they are the extension's, not the migrations'. Definitions are PostgreSQL's own
renderings (``pg_get_indexdef``, ``pg_get_triggerdef`` …), and a function is compared by
its signature and an md5 of its body, so a revision that replaces a body shows. A
partitioned table shows its partition key; its partitions (schema ``agentq_partitions``,
revision 0012) are not compared: which weeks exist is retention's state, not the schema.
Grants and owners are left out on purpose: Supabase's default privileges differ from a plain
PostgreSQL's without meaning a different schema.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

# Not owned by an extension (Supabase installs some into the public schema).
_NOT_EXT = (
    "NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = '{cat}'::regclass"
    " AND d.objid = {oid} AND d.deptype = 'e')"
)

QUERIES: dict[str, str] = {
    "table": f"""
        SELECT c.relname, c.relkind::text
               || CASE WHEN c.relkind = 'p' THEN ' ' || pg_get_partkeydef(c.oid) ELSE '' END
        FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r','p','v','m','f')
          AND {_NOT_EXT.format(cat="pg_class", oid="c.oid")}""",
    "column": f"""
        SELECT c.relname || '.' || a.attname,
               format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
               || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '')
               || CASE WHEN a.attidentity <> '' THEN ' IDENTITY' ELSE '' END
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r','p','v','m','f')
          AND a.attnum > 0 AND NOT a.attisdropped
          AND {_NOT_EXT.format(cat="pg_class", oid="c.oid")}""",
    "index": f"""
        SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('i','I')
          AND {_NOT_EXT.format(cat="pg_class", oid="c.oid")}""",
    "constraint": """
        SELECT t.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
        WHERE t.relnamespace = current_schema()::regnamespace""",
    "function": f"""
        SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
               p.prokind::text || ' ' || pg_get_function_result(p.oid) || ' md5:' || md5(p.prosrc)
        FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace
          AND {_NOT_EXT.format(cat="pg_proc", oid="p.oid")}""",
    "trigger": """
        SELECT c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal""",
    "type": f"""
        SELECT t.typname, t.typtype::text || ' ' || CASE t.typtype
            WHEN 'e' THEN (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                           FROM pg_enum e WHERE e.enumtypid = t.oid)
            WHEN 'c' THEN (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid,
                                             a.atttypmod), ',' ORDER BY a.attnum)
                           FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0)
            ELSE format_type(t.typbasetype, t.typtypmod) END
        FROM pg_type t LEFT JOIN pg_class r ON r.oid = t.typrelid
        WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e','c','d')
          AND (r.oid IS NULL OR r.relkind = 'c')
          AND {_NOT_EXT.format(cat="pg_type", oid="t.oid")}""",
    "row level security": """
        SELECT c.relname, CASE WHEN c.relforcerowsecurity THEN 'forced' ELSE 'enabled' END
        FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relrowsecurity""",
    "policy": """
        SELECT p.tablename || '.' || p.policyname,
               p.cmd || ' TO ' || array_to_string(p.roles, ',') || ' USING '
               || coalesce(p.qual, '-') || ' CHECK ' || coalesce(p.with_check, '-')
        FROM pg_policies p WHERE p.schemaname = current_schema()""",
    "publication": """
        SELECT p.pubname || ':' || p.tablename, 'member' FROM pg_publication_tables p
        WHERE p.schemaname = current_schema()""",
}


def snapshot(conn: Connection) -> dict[str, dict[str, str]]:
    """Every object of the connection's current schema, by kind and name."""
    return {
        kind: {str(name): str(defn) for name, defn in conn.execute(text(sql)).all()}
        for kind, sql in QUERIES.items()
    }


def diff(
    left: dict[str, dict[str, str]],
    right: dict[str, dict[str, str]],
    *,
    left_name: str = "primary",
    right_name: str = "mirror",
) -> list[str]:
    """One line per object that exists on one side only or differs, in a stable order."""
    out: list[str] = []
    for kind in QUERIES:
        a, b = left.get(kind, {}), right.get(kind, {})
        for name in sorted(a.keys() | b.keys()):
            if name not in b:
                out.append(f"{kind} {name}: only in the {left_name}")
            elif name not in a:
                out.append(f"{kind} {name}: only in the {right_name}")
            elif a[name] != b[name]:
                out.append(
                    f"{kind} {name}: differs ({left_name}: {a[name]}; {right_name}: {b[name]})"
                )
    return out
