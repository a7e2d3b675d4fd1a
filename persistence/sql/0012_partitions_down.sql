-- 0012's downgrade, after the revision has restated agentq_0012_rebuild() (taken from
-- persistence/sql/0012_partitions.sql): the three tables plain again, rows kept, then
-- 0012's functions and schema gone. The recorder's and the change feed's functions of
-- 0011 / 0003 are restored by the revision (persistence/migrations/versions/0012_partitions.py).

-- Every lock the conversion needs, taken first and in the recorder's order (history, then
-- executions and instances: agentq_record_batch_within): taken one by one as the steps
-- need them, a writer holding one of them and waiting for another would deadlock with us.
-- (In a DO block: the Supabase CLI runs a file's statements outside a transaction block,
-- where LOCK TABLE is refused.)
DO $$
BEGIN
    LOCK TABLE agent_execution_events IN ACCESS EXCLUSIVE MODE;
    LOCK TABLE agent_executions, agent_instances IN SHARE ROW EXCLUSIVE MODE;
    LOCK TABLE agent_metrics, system_health IN ACCESS EXCLUSIVE MODE;
END $$;

SELECT agentq_0012_rebuild('agent_execution_events', 'occurred_at', false);
SELECT agentq_0012_rebuild('agent_metrics', 'period_start', false);
SELECT agentq_0012_rebuild('system_health', 'timestamp', false);
DROP FUNCTION agentq_0012_rebuild(text, text, boolean);
-- Nullable before 0012 (the primary key made it NOT NULL).
ALTER TABLE system_health ALTER COLUMN "timestamp" DROP NOT NULL;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
        ALTER PUBLICATION supabase_realtime SET (publish_via_partition_root = false);
    END IF;
END $$;

DROP FUNCTION IF EXISTS agentq_create_partitions(regclass, timestamptz, timestamptz);
DROP SCHEMA IF EXISTS agentq_partitions;
