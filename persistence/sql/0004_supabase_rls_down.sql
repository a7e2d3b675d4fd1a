-- Downgrade of 0004: the policies, RLS and the grants go; the roles stay (they are
-- cluster-wide and other databases may use them), and so does an `auth` schema that
-- is not our shim (Supabase's own). Safe when 0004 was skipped (SUPABASE_ENABLE_RLS=false).
DO $$
DECLARE
    t text;
    have_roles boolean := (SELECT count(*) = 3 FROM pg_roles
                           WHERE rolname IN ('anon', 'authenticated', 'service_role'));
BEGIN
    FOREACH t IN ARRAY ARRAY['agent_instances', 'agent_executions', 'agent_execution_events',
                             'agent_metrics', 'system_health'] LOOP
        IF to_regclass(t) IS NOT NULL THEN
            EXECUTE format('DROP POLICY IF EXISTS %I ON %I', 'service_role_full_access_' || t, t);
            EXECUTE format('DROP POLICY IF EXISTS %I ON %I', 'authenticated_view_' || t, t);
            EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
            IF have_roles THEN
                EXECUTE format('REVOKE ALL ON %I FROM anon, authenticated, service_role', t);
            END IF;
        END IF;
    END LOOP;
    IF to_regclass('alembic_version') IS NOT NULL THEN
        ALTER TABLE alembic_version DISABLE ROW LEVEL SECURITY;
    END IF;
    IF have_roles THEN
        EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM anon, authenticated, service_role',
                       current_schema());
    END IF;
    DROP FUNCTION IF EXISTS agentq_enable_rls(regclass, boolean);
    IF obj_description(to_regnamespace('auth')::oid, 'pg_namespace') LIKE 'agentq:%' THEN
        DROP SCHEMA auth CASCADE;
    END IF;
END $$;
