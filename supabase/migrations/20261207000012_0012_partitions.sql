-- agentq: generated from Alembic revision 0012_partitions (0012_partitions.py).
-- Do not edit: regenerate with `agentq migrate --supabase-dir supabase/migrations`.
-- history, metrics and health in weekly range partitions (retention drops whole weeks)

-- Running upgrade 0011_trace_id -> 0012_partitions

-- The history's and the metrics' range partitions (revision 0012, docs/schema.md).
CREATE OR REPLACE FUNCTION agentq_create_partitions(parent regclass, first timestamptz,
                                                    last timestamptz)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    key text := (SELECT a.attname FROM pg_partitioned_table p
                 JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
                 WHERE p.partrelid = parent AND p.partstrat = 'r');
    strays text := format('agentq_partitions.%I', base || '_default');
    week timestamptz;
    name text;
    made integer := 0;
    moved bigint;
BEGIN
    IF key IS NULL THEN
        RAISE EXCEPTION 'agentq_create_partitions: % is not range-partitioned', parent;
    END IF;
    IF first IS NULL OR last IS NULL OR first > last THEN
        RAISE EXCEPTION 'agentq_create_partitions: bad range % .. %', first, last;
    END IF;
    FOR week IN SELECT generate_series(date_trunc('week', first AT TIME ZONE 'UTC'),
                                       date_trunc('week', last AT TIME ZONE 'UTC'),
                                       interval '1 week') AT TIME ZONE 'UTC' LOOP
        name := base || '_p' || to_char(week AT TIME ZONE 'UTC', 'YYYYMMDD');
        CONTINUE WHEN to_regclass(format('agentq_partitions.%I', name)) IS NOT NULL;
        moved := 0;
        IF to_regclass(strays) IS NOT NULL THEN
            EXECUTE format('SELECT count(*) FROM %s WHERE %I >= %L AND %I < %L', strays, key,
                           week, key, week + interval '1 week') INTO moved;
        END IF;
        IF moved > 0 THEN
            EXECUTE format('CREATE TEMP TABLE agentq_moving (LIKE %s)', parent);
            EXECUTE format('WITH m AS (DELETE FROM %s WHERE %I >= %L AND %I < %L RETURNING *) '
                           'INSERT INTO agentq_moving SELECT * FROM m', strays, key, week, key,
                           week + interval '1 week');
        END IF;
        EXECUTE format('CREATE TABLE agentq_partitions.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       name, parent, week, week + interval '1 week');
        IF moved > 0 THEN
            EXECUTE format('INSERT INTO %s SELECT * FROM agentq_moving', parent);
            DROP TABLE agentq_moving;
        END IF;
        made := made + 1;
    END LOOP;
    RETURN made;
END
$fn$;

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

-- One row (instances, system_health: a few rows per statement, a row trigger is cheaper).
CREATE OR REPLACE FUNCTION agentq_realtime_notify_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentq_realtime',
                      COALESCE((SELECT c.relname::text FROM pg_class c
                                WHERE c.oid = pg_partition_root(TG_RELID)), TG_TABLE_NAME)
                      || ':' || NEW.id::text);
    RETURN NULL;
END;
$$;

-- The recorder's one SQL call per batch (docs/recording.md): parses the batch (the wire format
-- of persistence/wire.py), appends new events to the history, creates new instances, merges
-- one patch per execution with the rule of persistence/lifecycle.py, notifies the change
-- feed, counts the transitions, updates each touched instance once, last. No row, nothing
-- written, when an event's "at" lies outside [min_at, max_at] (NULL bounds: no check).
-- tests/integration/test_sql_store.py proves (hypothesis) it gives the Python reference's rows.
CREATE OR REPLACE FUNCTION agentq_record_batch_within(batch json, min_at double precision,
                                                      max_at double precision)
RETURNS TABLE (received integer, new_events integer, inserted integer, updated integer)
LANGUAGE plpgsql
-- While it runs, the executions triggers leave its statements to it (their WHEN clause).
SET agentq.notified = 'on'
AS $fn$
DECLARE
    -- The session's choice (workers/stores.py sets it from SUPABASE_ENABLE_REALTIME).
    announce boolean := current_setting('agentq.realtime', true) IS DISTINCT FROM 'off';
    changed uuid[];
    evs agentq_wire_event[];
    fresh agentq_wire_event[];
    touched text[];
BEGIN
    evs := ARRAY(SELECT e FROM json_populate_recordset(NULL::agentq_wire_event, batch) AS e);
    IF min_at IS NOT NULL AND EXISTS (
            SELECT FROM unnest(evs) AS e WHERE e."at" NOT BETWEEN min_at AND max_at) THEN
        RETURN;  -- to_timestamp() would store a time Python cannot read back
    END IF;
    received := cardinality(evs);
    new_events := 0; inserted := 0; updated := 0;

    -- 1. The history: append every event not seen before (a replay changes nothing).
    WITH ins AS (
        INSERT INTO agent_execution_events (id, task_id, status, attempt, occurred_at, worker, detail)
        SELECT DISTINCT ON (e.id) e.id, e.t, e.s, e.a, to_timestamp(e."at"), e.w,
               NULLIF(jsonb_strip_nulls(jsonb_build_object(
                   'error_message', e.rs -> 'error_message',
                   'error_type', e.rs -> 'error_type',
                   'execution_time_seconds', e.rs -> 'execution_time_seconds',
                   'quality_score', e.rs -> 'quality_score',
                   'eta', e.rq -> 'eta')), '{}'::jsonb)
        FROM unnest(evs) AS e
        WHERE NOT EXISTS (SELECT FROM agent_executions k, agent_execution_events x  -- 0012
                          WHERE k.task_id = e.t AND x.task_id = e.t AND x.id = e.id  -- 0012
                            AND x.occurred_at >= k.created_at)  -- 0012
        ORDER BY e.id
        ON CONFLICT (id, occurred_at) DO NOTHING  -- 0012
        RETURNING id
    )
    SELECT array_agg(d.e) INTO fresh
    FROM (SELECT DISTINCT ON (e.id) e FROM unnest(evs) AS e JOIN ins ON ins.id = e.id
          ORDER BY e.id) AS d;

    IF fresh IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    new_events := cardinality(fresh);

    -- 2. Instances seen for the first time (persistence/instances.py): created idle with
    --    zero counters; the counters move in step 4 with everybody else's.
    touched := ARRAY(SELECT DISTINCT f.ag::text || '@' || f.w FROM unnest(fresh) AS f
                     WHERE f.w IS NOT NULL ORDER BY 1);
    IF EXISTS (SELECT FROM unnest(touched) AS a(id)
               WHERE NOT EXISTS (SELECT FROM agent_instances i WHERE i.agent_id = a.id)) THEN
        INSERT INTO agent_instances AS i (agent_id, agent_type, worker, status, last_activity,
                                          last_heartbeat)
        SELECT f.ag::text || '@' || f.w, f.ag, f.w, 'idle', max(to_timestamp(f."at")), now()
        FROM unnest(fresh) AS f
        WHERE f.w IS NOT NULL
        GROUP BY f.ag, f.w
        ORDER BY 1
        ON CONFLICT (agent_id) DO NOTHING;
    END IF;

    -- 3. One patch per execution (lifecycle.Patch), inserted fully formed as
    --    merge(None, patch) or merged into the stored row (lifecycle.merge).
    WITH f AS (
        SELECT e.*, to_timestamp(e."at") AS ts, agentq_status_rank(e.s) AS rk
        FROM unnest(fresh) e
    ), st AS (      -- state: the greatest by (attempt, rank, time, id)
        SELECT DISTINCT ON (f.t) f.* FROM f ORDER BY f.t, f.a DESC, f.rk DESC, f.ts DESC, f.id DESC
    ), er AS (      -- error: the greatest error-carrying or completed transition
        SELECT DISTINCT ON (f.t) f.* FROM f
        WHERE f.s IN ('failed', 'retrying', 'cancelled', 'completed')
        ORDER BY f.t, f.a DESC, f.rk DESC, f.ts DESC, f.id DESC
    ), rq AS (      -- the enqueue request: the earliest that carries one
        SELECT DISTINCT ON (f.t) f.t, f.ts, f.rq FROM f WHERE f.rq IS NOT NULL
        ORDER BY f.t, f.ts, f.id
    ), agg AS (
        SELECT f.t, min(f.ts) AS created_at,
               min(f.ts) FILTER (WHERE f.s = 'running') AS started_at,
               count(*) FILTER (WHERE f.s = 'running')::int AS new_runs
        FROM f GROUP BY f.t
    ), up AS (
        INSERT INTO agent_executions AS ae (
            task_id, agent_type, task_type, status, retry_count, status_at, created_at, worker,
            completed_at, output_data, quality_score, execution_time_seconds, started_at,
            error_message, error_type, error_details, enqueued_at, input_data, user_id,
            session_id, priority, max_retries, attempts, agent_instance_id,
            trace_id)  -- 0011
        SELECT st.t, st.ag, st.tt, st.s, st.a, st.ts, agg.created_at, st.w,
               CASE WHEN term THEN st.ts END,
               CASE WHEN term THEN NULLIF(st.rs -> 'output_data', 'null'::jsonb) END,
               CASE WHEN term THEN (st.rs ->> 'quality_score')::float8 END,
               CASE WHEN term THEN (st.rs ->> 'execution_time_seconds')::float8 END,
               agg.started_at,
               er.rs ->> 'error_message', er.rs ->> 'error_type',
               CASE WHEN er.t IS NOT NULL THEN jsonb_build_object(
                   'attempt', er.a, 'rank', er.rk, 'status', er.s,
                   'type', er.rs -> 'error_type', 'traceback', er.rs -> 'traceback') END,
               rq.ts,
               COALESCE(NULLIF(rq.rq -> 'input_data', 'null'::jsonb), '{}'::jsonb),
               (rq.rq ->> 'user_id')::uuid, rq.rq ->> 'session_id',
               COALESCE(rq.rq ->> 'priority', 'normal')::task_priority,
               COALESCE((rq.rq ->> 'max_retries')::int, 3),
               agg.new_runs,
               (SELECT i.id FROM agent_instances i WHERE i.agent_id = st.ag::text || '@' || st.w),
               rq.rq ->> 'trace_id'  -- 0011
        FROM st
        JOIN agg ON agg.t = st.t
        LEFT JOIN er ON er.t = st.t
        LEFT JOIN rq ON rq.t = st.t
        CROSS JOIN LATERAL (SELECT st.s IN ('completed', 'failed', 'cancelled') AS term) AS x
        ORDER BY st.t
        ON CONFLICT (task_id) DO UPDATE SET
            created_at = LEAST(ae.created_at, EXCLUDED.created_at),
            status = CASE WHEN agentq_state_wins(EXCLUDED.retry_count, EXCLUDED.status, EXCLUDED.status_at,
                                   ae.retry_count, ae.status, ae.status_at) THEN EXCLUDED.status ELSE ae.status END,
            retry_count = CASE WHEN agentq_state_wins(EXCLUDED.retry_count, EXCLUDED.status, EXCLUDED.status_at,
                                   ae.retry_count, ae.status, ae.status_at) THEN EXCLUDED.retry_count ELSE ae.retry_count END,
            status_at = CASE WHEN agentq_state_wins(EXCLUDED.retry_count, EXCLUDED.status, EXCLUDED.status_at,
                                   ae.retry_count, ae.status, ae.status_at) THEN EXCLUDED.status_at ELSE ae.status_at END,
            worker = CASE WHEN agentq_state_wins(EXCLUDED.retry_count, EXCLUDED.status, EXCLUDED.status_at,
                                   ae.retry_count, ae.status, ae.status_at) THEN EXCLUDED.worker ELSE ae.worker END,
            agent_instance_id = CASE WHEN agentq_state_wins(EXCLUDED.retry_count, EXCLUDED.status, EXCLUDED.status_at,
                                   ae.retry_count, ae.status, ae.status_at) AND EXCLUDED.worker IS NOT NULL
                THEN COALESCE(EXCLUDED.agent_instance_id, ae.agent_instance_id)
                ELSE ae.agent_instance_id END,
            completed_at = CASE WHEN agentq_state_wins(EXCLUDED.retry_count, EXCLUDED.status, EXCLUDED.status_at,
                                   ae.retry_count, ae.status, ae.status_at) THEN EXCLUDED.completed_at ELSE ae.completed_at END,
            output_data = CASE WHEN agentq_state_wins(EXCLUDED.retry_count, EXCLUDED.status, EXCLUDED.status_at,
                                   ae.retry_count, ae.status, ae.status_at) THEN EXCLUDED.output_data ELSE ae.output_data END,
            quality_score = CASE WHEN agentq_state_wins(EXCLUDED.retry_count, EXCLUDED.status, EXCLUDED.status_at,
                                   ae.retry_count, ae.status, ae.status_at) THEN EXCLUDED.quality_score ELSE ae.quality_score END,
            execution_time_seconds = CASE WHEN agentq_state_wins(EXCLUDED.retry_count, EXCLUDED.status, EXCLUDED.status_at,
                                   ae.retry_count, ae.status, ae.status_at) THEN EXCLUDED.execution_time_seconds
                ELSE ae.execution_time_seconds END,
            started_at = LEAST(ae.started_at, EXCLUDED.started_at),
            error_message = CASE WHEN agentq_error_wins(EXCLUDED.error_details, ae.error_details) THEN EXCLUDED.error_message ELSE ae.error_message END,
            error_type = CASE WHEN agentq_error_wins(EXCLUDED.error_details, ae.error_details) THEN EXCLUDED.error_type ELSE ae.error_type END,
            error_details = CASE WHEN agentq_error_wins(EXCLUDED.error_details, ae.error_details) THEN EXCLUDED.error_details ELSE ae.error_details END,
            enqueued_at = COALESCE(ae.enqueued_at, EXCLUDED.enqueued_at),
            input_data = CASE WHEN ae.enqueued_at IS NULL AND EXCLUDED.enqueued_at IS NOT NULL THEN EXCLUDED.input_data ELSE ae.input_data END,
            user_id = CASE WHEN ae.enqueued_at IS NULL AND EXCLUDED.enqueued_at IS NOT NULL THEN EXCLUDED.user_id ELSE ae.user_id END,
            session_id = CASE WHEN ae.enqueued_at IS NULL AND EXCLUDED.enqueued_at IS NOT NULL THEN EXCLUDED.session_id ELSE ae.session_id END,
            priority = CASE WHEN ae.enqueued_at IS NULL AND EXCLUDED.enqueued_at IS NOT NULL THEN EXCLUDED.priority ELSE ae.priority END,
            max_retries = CASE WHEN ae.enqueued_at IS NULL AND EXCLUDED.enqueued_at IS NOT NULL THEN EXCLUDED.max_retries ELSE ae.max_retries END,
            trace_id = CASE WHEN ae.enqueued_at IS NULL AND EXCLUDED.enqueued_at IS NOT NULL THEN EXCLUDED.trace_id ELSE ae.trace_id END,  -- 0011
            attempts = ae.attempts + EXCLUDED.attempts,
            updated_at = now()
        RETURNING ae.id, (xmax = 0) AS was_inserted
    )
    SELECT count(*) FILTER (WHERE was_inserted), count(*) FILTER (WHERE NOT was_inserted),
           array_agg(up.id) FILTER (WHERE announce)
    INTO inserted, updated, changed FROM up;

    -- The change feed of these executions: what the triggers of revision 0003 would send,
    -- from the rows at hand (150 ids per notification, as there).
    IF changed IS NOT NULL THEN
        FOR chunk IN 0 .. (cardinality(changed) - 1) / 150 LOOP
            PERFORM pg_notify('agentq_realtime', 'agent_executions:'
                              || array_to_string(changed[chunk * 150 + 1 : chunk * 150 + 150], ','));
        END LOOP;
    END IF;

    -- 3b. The fleet's counters and histograms (revision 0010): from the events that
    --     entered the history just now, so a replayed or claimed entry counts nothing,
    --     after the executions' rows are locked (see agentq_count_transitions).
    PERFORM agentq_count_transitions(fresh);

    IF cardinality(touched) = 0 THEN
        RETURN NEXT;
        RETURN;
    END IF;

    -- 4. Each touched instance once: its counters, and busy while its worker runs an
    --    execution of its type (idle otherwise). The locks are taken here, in agent_id
    --    order, and held only until the commit that follows.
    PERFORM FROM agent_instances i WHERE i.agent_id = ANY(touched)
    ORDER BY i.agent_id FOR NO KEY UPDATE;
    UPDATE agent_instances AS i SET
        last_activity = GREATEST(i.last_activity, u.last_activity),
        total_tasks_completed = COALESCE(i.total_tasks_completed, 0) + u.completed,
        total_tasks_failed = COALESCE(i.total_tasks_failed, 0) + u.failed,
        total_execution_time = COALESCE(i.total_execution_time, 0) + u.exec_time,
        average_execution_time = COALESCE(
            (COALESCE(i.total_execution_time, 0) + u.exec_time)
            / NULLIF(COALESCE(i.total_tasks_completed, 0) + COALESCE(i.total_tasks_failed, 0)
                     + u.completed + u.failed, 0), 0),
        status = CASE WHEN i.status IN ('offline', 'maintenance') THEN i.status
                      WHEN r.task_id IS NULL THEN 'idle' ELSE 'busy' END::agent_status,
        current_task_id = CASE WHEN i.status IN ('offline', 'maintenance') THEN i.current_task_id
                               ELSE r.task_id END
    FROM (
        SELECT f.ag::text || '@' || f.w AS agent_id,
               max(to_timestamp(f."at")) AS last_activity,
               count(*) FILTER (WHERE f.s = 'completed')::int AS completed,
               count(*) FILTER (WHERE f.s = 'failed')::int AS failed,
               COALESCE(sum((f.rs ->> 'execution_time_seconds')::float8)
                        FILTER (WHERE f.s IN ('completed', 'failed')), 0) AS exec_time
        FROM unnest(fresh) AS f
        WHERE f.w IS NOT NULL
        GROUP BY f.ag, f.w
    ) AS u
    CROSS JOIN LATERAL (
        SELECT (SELECT e.task_id FROM agent_executions e
                WHERE e.status = 'running' AND e.worker = a.worker AND e.agent_type = a.agent_type
                ORDER BY e.started_at DESC NULLS LAST LIMIT 1) AS task_id
        FROM agent_instances a WHERE a.agent_id = u.agent_id
    ) AS r
    WHERE i.agent_id = u.agent_id;
    RETURN NEXT;
END
$fn$;

UPDATE alembic_version SET version_num='0012_partitions' WHERE alembic_version.version_num = '0011_trace_id';
