-- 0009's downgrade, the parts not restored by re-running 0003 and 0007 (see the revision):
-- our tables leave supabase_realtime, and the publication goes if 0009 created it and
-- nothing else is in it now.
DROP TRIGGER IF EXISTS agentq_realtime_health_insert ON system_health;

DO $pub$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime'
                   AND NOT puballtables) THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['agent_executions', 'agent_instances', 'agent_metrics',
                             'system_health'] LOOP
        IF EXISTS (SELECT FROM pg_publication_rel pr
                   JOIN pg_publication p ON p.oid = pr.prpubid
                   WHERE p.pubname = 'supabase_realtime' AND pr.prrelid = t::regclass) THEN
            EXECUTE format('ALTER PUBLICATION supabase_realtime DROP TABLE %I', t);
        END IF;
    END LOOP;
    IF obj_description((SELECT oid FROM pg_publication WHERE pubname = 'supabase_realtime'),
                       'pg_publication') = 'created by agentq revision 0009'
       AND NOT EXISTS (SELECT FROM pg_publication_rel pr JOIN pg_publication p
                       ON p.oid = pr.prpubid WHERE p.pubname = 'supabase_realtime') THEN
        DROP PUBLICATION supabase_realtime;
    END IF;
END
$pub$;
