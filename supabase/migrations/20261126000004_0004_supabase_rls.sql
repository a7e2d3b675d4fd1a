-- agentq: generated from Alembic revision 0004_supabase_rls (0004_supabase_rls.py).
-- Do not edit: regenerate with `agentq migrate --supabase-dir supabase/migrations`.
-- Supabase roles, auth.role() shim on plain PostgreSQL, Row Level Security as in the
-- integration design (issue 6)

-- Running upgrade 0003_realtime -> 0004_supabase_rls

-- 0004: Row Level Security as in the integration design, on every table: anon sees nothing,
-- authenticated reads, service_role does everything.
--
-- On Supabase the roles and auth.role() / auth.uid() / auth.jwt() exist and are used as
-- they are. On plain PostgreSQL this creates the three roles and a compatible `auth`
-- shim that reads request.jwt.claims the way PostgREST sets it (SET LOCAL ROLE <role>;
-- set_config('request.jwt.claims', '{"role": ...}', true)).
-- Idempotent: roles and shim only when missing, policies dropped and created by name.
-- Skipped entirely when SUPABASE_ENABLE_RLS=false (persistence/migrations/versions/0004_supabase_rls.py).
-- Owners and superusers bypass RLS: the workers, connecting as the owner, are unaffected.

-- The Supabase roles. Roles are cluster-wide, so a migration of another database may
-- create them at the same moment: losing that race is fine. service_role bypasses RLS
-- as on Supabase, when we may grant that (only a superuser can).
DO $$
DECLARE
    r text;
    bypass text := CASE WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                        THEN ' BYPASSRLS' ELSE '' END;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r)
                    || CASE WHEN r = 'service_role' THEN bypass ELSE '' END;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END $$;

-- The auth shim, only where there is no `auth` schema (Supabase has its own). The
-- functions read the claims as Supabase's do: request.jwt.claims (JSON, PostgREST 9+)
-- or the older one-setting-per-claim spelling.
DO $$
BEGIN
    IF to_regnamespace('auth') IS NULL THEN
        CREATE SCHEMA auth;
        COMMENT ON SCHEMA auth IS 'agentq: shim of Supabase auth.role(), auth.uid(), auth.jwt() (migration 0004)';
        GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
    END IF;
    IF to_regprocedure('auth.jwt()') IS NULL THEN
        CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
            SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                            nullif(current_setting('request.jwt.claims', true), ''))::jsonb
        $f$;
    END IF;
    IF to_regprocedure('auth.role()') IS NULL THEN
        CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$
            SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                            nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
        $f$;
    END IF;
    IF to_regprocedure('auth.uid()') IS NULL THEN
        CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
            SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                            nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid
        $f$;
    END IF;
END $$;

-- The roles reach the tables through the schema they live in.
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO anon, authenticated, service_role', current_schema());
END $$;

-- One table's policies and grants, as in the integration design (its 002_enhanced_rls_policies.sql):
-- service_role_full_access_<table> (FOR ALL) and, when readable, authenticated_view_<table>
-- (FOR SELECT); anon has no policy, so it sees no row. Grants are the integration design's too (SELECT
-- for anon and authenticated, ALL for service_role), after revoking whatever Supabase's
-- default privileges gave: writes are refused twice (no privilege, no policy), and
-- TRUNCATE, which RLS does not cover, stays with service_role. The policies name their
-- role (TO ...) as well as checking the claims, so a session running as anon with
-- forged service_role claims still sees nothing.
-- Later migrations call it for their own tables, in a DO block guarded by
-- to_regprocedure('agentq_enable_rls(regclass,boolean)') IS NOT NULL, because
-- SUPABASE_ENABLE_RLS=false skips this file; readable => false leaves out the
-- authenticated policy (an internal table).
CREATE OR REPLACE FUNCTION agentq_enable_rls(tbl regclass, readable boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = tbl);
    old text;
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('REVOKE ALL ON %s FROM anon, authenticated', tbl);
    EXECUTE format('GRANT SELECT ON %s TO anon, authenticated', tbl);
    EXECUTE format('GRANT ALL ON %s TO service_role', tbl);
    -- Drop ours to recreate them (only those that exist: no NOTICE noise on a first run).
    FOR old IN SELECT polname FROM pg_policy WHERE polrelid = tbl AND polname IN (
            'service_role_full_access_' || name, 'authenticated_view_' || name) LOOP
        EXECUTE format('DROP POLICY %I ON %s', old, tbl);
    END LOOP;
    EXECUTE format(
        'CREATE POLICY %I ON %s FOR ALL TO service_role '
        'USING (auth.role() = %L) WITH CHECK (auth.role() = %L)',
        'service_role_full_access_' || name, tbl, 'service_role', 'service_role');
    IF readable THEN
        EXECUTE format(
            'CREATE POLICY %I ON %s FOR SELECT TO authenticated USING (auth.role() = %L)',
            'authenticated_view_' || name, tbl, 'authenticated');
    END IF;
END $$;

-- Not callable through Supabase's REST API (/rpc): only the owner runs it.
REVOKE ALL ON FUNCTION agentq_enable_rls(regclass, boolean)
    FROM PUBLIC, anon, authenticated, service_role;

SELECT agentq_enable_rls(t::regclass)
FROM unnest(ARRAY['agent_instances', 'agent_executions', 'agent_execution_events',
                  'agent_metrics', 'system_health']) AS t;

-- Alembic's bookkeeping table sits in the same schema, which Supabase's REST API
-- exposes: nobody but the owner (and service_role) reads it.
DO $$
BEGIN
    IF to_regclass('alembic_version') IS NOT NULL THEN
        ALTER TABLE alembic_version ENABLE ROW LEVEL SECURITY;
        REVOKE ALL ON alembic_version FROM anon, authenticated;
    END IF;
END $$;

UPDATE alembic_version SET version_num='0004_supabase_rls' WHERE alembic_version.version_num = '0003_realtime';
