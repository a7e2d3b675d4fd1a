-- The current definition of every function of the schema: the one place to read them.
--
-- Migrations are history: each revision's file keeps the text it applied, frozen. This file
-- is what the head of the chain defines. tests/integration/test_current_sql.py builds a fresh
-- database by migrations and checks that every function there (pg_get_functiondef) is
-- exactly what this file defines, and that this file defines nothing else.
--
-- A migration that changes a function edits it here and loads it with
-- persistence.sql.current_definition(name) instead of restating its body; when a later
-- migration changes it again, the Supabase files' drift test (test_supabase_cli.py) fails
-- until the earlier migration's text is frozen (copied into its own .sql file).
-- One block per function, "-- name: <function>" first (persistence/sql/__init__.py).

-- name: agentq_status_rank
-- The lifecycle precedence (persistence/lifecycle.py RANK): rank // 10 is the coarse rank of
-- docs/architecture.md; the last digit orders terminal statuses of one attempt.
CREATE OR REPLACE FUNCTION agentq_status_rank(s task_status) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE s
        WHEN 'pending' THEN 0 WHEN 'queued' THEN 10 WHEN 'running' THEN 20
        WHEN 'retrying' THEN 30 WHEN 'cancelled' THEN 40 WHEN 'failed' THEN 41
        WHEN 'completed' THEN 42 END
$$;

-- name: update_updated_at_column
-- The integration design's updated_at trigger on agent_instances.
CREATE OR REPLACE FUNCTION update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

-- name: agentq_realtime_notify
-- The change feed (docs/realtime.md): every row of the statement's transition table
-- `agentq_changed`, 150 ids per notification.
CREATE OR REPLACE FUNCTION agentq_realtime_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    ids text;
BEGIN
    SELECT count(*), string_agg(id::text, ',') INTO n, ids FROM agentq_changed;
    IF n <= 150 THEN
        IF n > 0 THEN
            PERFORM pg_notify('agentq_realtime', TG_TABLE_NAME || ':' || ids);
        END IF;
        RETURN NULL;
    END IF;
    FOR ids IN
        SELECT string_agg(c.id::text, ',')
        FROM (SELECT id, (row_number() OVER () - 1) / 150 AS chunk FROM agentq_changed) AS c
        GROUP BY c.chunk
    LOOP
        PERFORM pg_notify('agentq_realtime', TG_TABLE_NAME || ':' || ids);
    END LOOP;
    RETURN NULL;
END;
$$;

-- name: agentq_realtime_notify_row
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

-- name: agentq_enable_rls
-- Row Level Security for one table (the integration design's policies). Created only where
-- SUPABASE_ENABLE_RLS is on (revision 0004 is skipped otherwise); later migrations call it
-- guarded by to_regprocedure('agentq_enable_rls(regclass,boolean)') IS NOT NULL.
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

-- name: agentq_state_wins
-- The merge's comparisons, named (simple SQL functions: the planner inlines them).
-- state: (attempt, rank, time) of the incoming state is greater than the stored one.
CREATE OR REPLACE FUNCTION agentq_state_wins(
    new_attempt integer, new_status task_status, new_at timestamptz,
    old_attempt integer, old_status task_status, old_at timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (new_attempt, agentq_status_rank(new_status), new_at)
         > (old_attempt, agentq_status_rank(old_status), COALESCE(old_at, '-infinity'))
$$;

-- name: agentq_error_wins
-- error: (attempt, rank) of the incoming error-carrying transition is greater.
CREATE OR REPLACE FUNCTION agentq_error_wins(new_details jsonb, old_details jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT new_details IS NOT NULL
       AND ((new_details ->> 'attempt')::int, (new_details ->> 'rank')::int)
         > (COALESCE((old_details ->> 'attempt')::int, -1),
            COALESCE((old_details ->> 'rank')::int, -1))
$$;

-- name: agentq_bucket
-- The histogram bucket (Prometheus "le") of one observation in seconds, '+Inf' above 600.
CREATE OR REPLACE FUNCTION agentq_bucket(v double precision) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(
        ('{0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,120,300,600}'::float8[])[
            16 - NULLIF(width_bucket(-v, '{-600,-300,-120,-60,-30,-10,-5,-2.5,-1,-0.5,-0.25,-0.1,-0.05,-0.025,-0.01}'::float8[]), 0)
        ]::text,
        '+Inf')
$$;

-- name: agentq_count_transitions
-- The fleet's task counters and histograms (docs/observability.md#metrics), counted from
-- the batch's new events inside the recorder's transaction, after its upsert of the executions.
CREATE OR REPLACE FUNCTION agentq_count_transitions(fresh agentq_wire_event[]) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $fn$
BEGIN
    WITH f AS (
        SELECT * FROM unnest(fresh)
    ), qr AS (  -- the new queued and running events, each with its attempt's new queued time
        SELECT f.id, f.t, f.a, f.s, f.ag, f."at",
               max(f."at") FILTER (WHERE f.s = 'queued') OVER (PARTITION BY f.t, f.a) AS q_at
        FROM f WHERE f.s IN ('queued', 'running')
    ), pairs AS (  -- (queued, running) of one attempt, with at least one half new here
        SELECT qr.ag, qr."at" - qr.q_at AS v  -- both new
        FROM qr WHERE qr.s = 'running' AND qr.q_at IS NOT NULL
        UNION ALL
        SELECT qr.ag, qr."at" - extract(epoch FROM h.occurred_at)::float8  -- queued before
        FROM qr
        JOIN agent_execution_events h
          ON h.task_id = qr.t AND h.attempt = qr.a AND h.status = 'queued'
        WHERE qr.s = 'running' AND qr.q_at IS NULL  -- one queued per attempt
        UNION ALL
        SELECT qr.ag, extract(epoch FROM h.occurred_at)::float8 - qr."at"  -- running(s) before
        FROM qr
        JOIN agent_execution_events h
          ON h.task_id = qr.t AND h.attempt = qr.a AND h.status = 'running'
        WHERE qr.s = 'queued' AND NOT EXISTS (SELECT FROM qr AS n WHERE n.id = h.id)
    ), obs AS (
        SELECT f.ag, 'tasks'::text AS metric,
               CASE f.s WHEN 'running' THEN 'started' WHEN 'completed' THEN 'succeeded'
                        WHEN 'retrying' THEN 'retried' ELSE f.s::text END AS label,
               0::float8 AS v
        FROM f WHERE f.s <> 'pending'
        UNION ALL
        SELECT f.ag, 'runtime', agentq_bucket(x.v), x.v
        FROM f CROSS JOIN LATERAL
             (SELECT (f.rs ->> 'execution_time_seconds')::float8 AS v) AS x
        WHERE f.s IN ('completed', 'failed') AND x.v IS NOT NULL
        UNION ALL
        SELECT p.ag, 'queue_wait', agentq_bucket(GREATEST(p.v, 0)), GREATEST(p.v, 0) FROM pairs p
    )
    INSERT INTO agentq_task_counts AS c (shard, agent_type, metric, label, n, total)
    SELECT pg_backend_pid() % 16, o.ag, o.metric, o.label, count(*), sum(o.v)
    FROM obs o
    GROUP BY o.ag, o.metric, o.label
    ORDER BY o.ag, o.metric, o.label  -- the same lock order in every recorder: no deadlock
    ON CONFLICT (shard, agent_type, metric, label) DO UPDATE SET
        n = c.n + EXCLUDED.n,
        total = c.total + EXCLUDED.total;
END
$fn$;

-- name: agentq_create_partitions
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

-- name: agentq_record_batch_within
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

-- name: agentq_record_batch
-- The REST backend's RPC: the same without bounds on "at".
CREATE OR REPLACE FUNCTION agentq_record_batch(batch json)
RETURNS TABLE (received integer, new_events integer, inserted integer, updated integer)
LANGUAGE sql AS $$
    SELECT * FROM agentq_record_batch_within(batch, NULL, NULL)
$$;
