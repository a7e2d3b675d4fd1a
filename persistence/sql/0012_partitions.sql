-- 0012: the history, the metrics and the health rows in weekly range partitions
-- (docs/schema.md#partitions), so that retention drops whole weeks instead of deleting
-- rows one by one (persistence/partitions.py, workers/beat/partitions.py).
--
-- * agent_execution_events by occurred_at, agent_metrics by period_start, system_health
--   by "timestamp": one partition per ISO week (Monday 00:00 UTC to the next), named
--   <table>_p<yyyymmdd of the Monday>, and a default partition <table>_default for rows
--   outside every week created (reported: the database health component, persistence/partitions.py).
-- * The partitions live in schema agentq_partitions, which no API role may use: Supabase's
--   REST API exposes every table of public, and a partition read directly would bypass the
--   parent's Row Level Security. Clients read and write the parents, as before.
-- * A unique key of a partitioned table must hold its partition key: the primary keys
--   become (id, <time column>). The recorder keeps the history's idempotency by event id
--   itself (agentq_record_batch_within, in persistence/sql/current/functions.sql).
-- * The existing rows are copied (the tables are locked meanwhile: writers wait; measured
--   in docs/schema.md). Partitions are created from the oldest row's week (at most a year
--   back; older rows land in the default partition) to two weeks ahead; beat creates the
--   following ones (agentq.beat.partitions).
--
-- Downgrade: persistence/sql/0012_partitions_down.sql (plain tables again, rows kept).

CREATE SCHEMA IF NOT EXISTS agentq_partitions;
REVOKE ALL ON SCHEMA agentq_partitions FROM PUBLIC;
COMMENT ON SCHEMA agentq_partitions IS 'agentq: the partitions of the history, metrics and health tables (migration 0012); use the parents in public';

-- agentq_create_partitions() (the weeks of a partitioned table), the change feed's row
-- trigger function (it names the partition's root) and the recorder's function (an event
-- already in the history is found by its task and id: a partitioned table cannot hold a
-- unique key on id alone) are loaded by the revision from persistence/sql/current/
-- functions.sql, their one source (persistence/migrations/versions/0012_partitions.py).


-- A table rebuilt as its copy, partitioned (or plain again: the downgrade), with its rows,
-- constraints (the primary key with or without the time column), indexes, triggers,
-- publications and, when it had them, 0004's grants and policies. Used by this revision
-- and its downgrade only, then dropped.
CREATE OR REPLACE FUNCTION agentq_0012_rebuild(tbl text, key text, partitioned boolean)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    old regclass := format('%I', tbl)::regclass;
    saved text := tbl || '_rebuilt';
    constraints text[];
    indexes text[];
    triggers text[];
    pubs text[];
    rls boolean := (SELECT relrowsecurity FROM pg_class WHERE oid = old);
    oldest timestamptz;
    stmt text;
BEGIN
    -- What the table has, in an order that recreates it (the primary key first).
    constraints := ARRAY(
        SELECT format('ALTER TABLE %I ADD CONSTRAINT %I %s', tbl, k.conname,
                      CASE WHEN k.contype = 'p' AND partitioned THEN format('PRIMARY KEY (id, %I)', key)
                           WHEN k.contype = 'p' THEN 'PRIMARY KEY (id)'
                           ELSE pg_get_constraintdef(k.oid) END)
        FROM pg_constraint k WHERE k.conrelid = old AND k.contype IN ('p', 'u', 'f')
        ORDER BY k.contype <> 'p', k.conname);
    indexes := ARRAY(
        SELECT replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ')
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = old
          AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = old)
        ORDER BY c.relname);
    triggers := ARRAY(SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t
                      WHERE t.tgrelid = old AND NOT t.tgisinternal ORDER BY t.tgname);
    pubs := ARRAY(SELECT p.pubname FROM pg_publication_rel pr
                  JOIN pg_publication p ON p.oid = pr.prpubid
                  WHERE pr.prrelid = old ORDER BY p.pubname);

    EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, saved);
    IF partitioned THEN
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
                       'PARTITION BY RANGE (%I)', tbl, saved, key);
        EXECUTE format('CREATE TABLE agentq_partitions.%I PARTITION OF %I DEFAULT',
                       tbl || '_default', tbl);
        EXECUTE format('SELECT min(%I) FROM %I', key, saved) INTO oldest;
        PERFORM agentq_create_partitions(format('%I', tbl)::regclass,
                                         GREATEST(COALESCE(oldest, now()), now() - interval '1 year'),
                                         now() + interval '2 weeks');
    ELSE
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       tbl, saved);
    END IF;
    EXECUTE format('INSERT INTO %I SELECT * FROM %I', tbl, saved);
    EXECUTE format('DROP TABLE %I CASCADE', saved);

    FOREACH stmt IN ARRAY constraints || indexes || triggers LOOP
        EXECUTE stmt;
    END LOOP;
    FOREACH stmt IN ARRAY pubs LOOP
        -- Changes of a partition are published as its parent's (what Supabase Realtime
        -- subscribes to); no effect on plain tables.
        IF partitioned THEN
            EXECUTE format('ALTER PUBLICATION %I SET (publish_via_partition_root = true)', stmt);
        END IF;
        EXECUTE format('ALTER PUBLICATION %I ADD TABLE %I', stmt, tbl);
    END LOOP;
    IF rls THEN
        PERFORM agentq_enable_rls(format('%I', tbl)::regclass);
    END IF;
END
$fn$;

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

-- system_health."timestamp" becomes part of the primary key (NOT NULL); it always had a
-- value in practice (DEFAULT now(), and the insert's COALESCE).
UPDATE system_health SET "timestamp" = now() WHERE "timestamp" IS NULL;

SELECT agentq_0012_rebuild('agent_execution_events', 'occurred_at', true);
SELECT agentq_0012_rebuild('agent_metrics', 'period_start', true);
SELECT agentq_0012_rebuild('system_health', 'timestamp', true);
DROP FUNCTION agentq_0012_rebuild(text, text, boolean);

-- A publication FOR ALL TABLES (not ours to change otherwise) lists partitions, not their
-- parents, unless it publishes via the partition root.
DO $$
DECLARE
    pub text;
BEGIN
    FOR pub IN SELECT pubname FROM pg_publication WHERE puballtables AND NOT pubviaroot LOOP
        EXECUTE format('ALTER PUBLICATION %I SET (publish_via_partition_root = true)', pub);
    END LOOP;
END $$;
