-- agentq: generated from Alembic revision 0006_record_batch (0006_record_batch.py).
-- Do not edit: regenerate with `agentq migrate --supabase-dir supabase/migrations`.
-- agentq_record_batch(): the recorder's whole batch in one call (JSON in, merge in SQL).

-- Running upgrade 0005_mirror_outbox -> 0006_record_batch

-- One call records a whole batch: the recorder hands PostgreSQL the stream entries'
-- events as one JSON array (the wire format of persistence/wire.py) and this function
-- parses, deduplicates, folds and merges them with the lifecycle rule of
-- persistence/lifecycle.py (Patch / merge), column group by column group.
--
-- Why in SQL: building one Python object per event and one array per column cost the
-- recorder about 0.15 ms of CPU per task, more than the database spent storing it.
-- PostgreSQL's JSON parser does the same work in C, inside the transaction it needs
-- anyway. tests/integration/test_sql_store.py proves (hypothesis) that it gives the
-- same rows as the Python reference for any order and duplication of events.

DO $$ BEGIN
    CREATE TYPE agentq_wire_event AS (
        id uuid,            -- the event's own id (dedup key of the history)
        t text,             -- task id
        s task_status,      -- status
        a integer,          -- attempt (request.retries)
        "at" double precision, -- when, seconds since the epoch
        ag agent_type,
        tt text,            -- task type
        w text,             -- worker hostname
        rq jsonb,           -- the enqueue request (pending only)
        rs jsonb            -- result / error (terminal and retrying)
    );
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- The merge's comparisons, named (simple SQL functions: the planner inlines them).
-- state: (attempt, rank, time) of the incoming state is greater than the stored one.
CREATE OR REPLACE FUNCTION agentq_state_wins(
    new_attempt integer, new_status task_status, new_at timestamptz,
    old_attempt integer, old_status task_status, old_at timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (new_attempt, agentq_status_rank(new_status), new_at)
         > (old_attempt, agentq_status_rank(old_status), COALESCE(old_at, '-infinity'))
$$;

-- error: (attempt, rank) of the incoming error-carrying transition is greater.
CREATE OR REPLACE FUNCTION agentq_error_wins(new_details jsonb, old_details jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT new_details IS NOT NULL
       AND ((new_details ->> 'attempt')::int, (new_details ->> 'rank')::int)
         > (COALESCE((old_details ->> 'attempt')::int, -1),
            COALESCE((old_details ->> 'rank')::int, -1))
$$;

CREATE OR REPLACE FUNCTION agentq_record_batch(batch json)
RETURNS TABLE (received integer, new_events integer, inserted integer, updated integer)
LANGUAGE plpgsql AS $fn$
DECLARE
    fresh agentq_wire_event[];
    touched text[];
BEGIN
    received := json_array_length(batch);
    new_events := 0; inserted := 0; updated := 0;

    -- 1. The history: append every event not seen before (a replay changes nothing).
    WITH raw AS (
        SELECT e FROM json_populate_recordset(NULL::agentq_wire_event, batch) AS e
    ), ins AS (
        INSERT INTO agent_execution_events (id, task_id, status, attempt, occurred_at, worker, detail)
        SELECT DISTINCT ON ((r.e).id) (r.e).id, (r.e).t, (r.e).s, (r.e).a, to_timestamp((r.e)."at"),
               (r.e).w,
               NULLIF(jsonb_strip_nulls(jsonb_build_object(
                   'error_message', (r.e).rs -> 'error_message',
                   'error_type', (r.e).rs -> 'error_type',
                   'execution_time_seconds', (r.e).rs -> 'execution_time_seconds',
                   'quality_score', (r.e).rs -> 'quality_score',
                   'eta', (r.e).rq -> 'eta')), '{}'::jsonb)
        FROM raw r
        ORDER BY (r.e).id
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    )
    SELECT array_agg(d.e) INTO fresh
    FROM (SELECT DISTINCT ON ((r.e).id) r.e FROM raw r JOIN ins ON ins.id = (r.e).id
          ORDER BY (r.e).id) AS d;

    IF fresh IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    new_events := cardinality(fresh);

    -- 2. Instance counters (persistence/instances.py): created on first sight.
    touched := ARRAY(SELECT DISTINCT f.ag::text || '@' || f.w FROM unnest(fresh) f
                     WHERE f.w IS NOT NULL);
    INSERT INTO agent_instances AS i (
        agent_id, agent_type, worker, status, last_activity, last_heartbeat,
        total_tasks_completed, total_tasks_failed, total_execution_time, average_execution_time)
    SELECT u.agent_id, u.ag, u.w, 'idle', u.last_activity, now(),
           u.completed, u.failed, u.exec_time,
           COALESCE(u.exec_time / NULLIF(u.completed + u.failed, 0), 0)
    FROM (
        SELECT f.ag::text || '@' || f.w AS agent_id, f.ag, f.w,
               max(to_timestamp(f."at")) AS last_activity,
               count(*) FILTER (WHERE f.s = 'completed')::int AS completed,
               count(*) FILTER (WHERE f.s = 'failed')::int AS failed,
               COALESCE(sum((f.rs ->> 'execution_time_seconds')::float8)
                        FILTER (WHERE f.s IN ('completed', 'failed')), 0) AS exec_time
        FROM unnest(fresh) f
        WHERE f.w IS NOT NULL
        GROUP BY f.ag, f.w
    ) AS u
    ORDER BY u.agent_id
    ON CONFLICT (agent_id) DO UPDATE SET
        last_activity = GREATEST(i.last_activity, EXCLUDED.last_activity),
        total_tasks_completed = COALESCE(i.total_tasks_completed, 0) + EXCLUDED.total_tasks_completed,
        total_tasks_failed = COALESCE(i.total_tasks_failed, 0) + EXCLUDED.total_tasks_failed,
        total_execution_time = COALESCE(i.total_execution_time, 0) + EXCLUDED.total_execution_time,
        average_execution_time = COALESCE(
            (COALESCE(i.total_execution_time, 0) + EXCLUDED.total_execution_time)
            / NULLIF(COALESCE(i.total_tasks_completed, 0) + COALESCE(i.total_tasks_failed, 0)
                     + EXCLUDED.total_tasks_completed + EXCLUDED.total_tasks_failed, 0), 0);

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
            session_id, priority, max_retries, attempts, agent_instance_id)
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
               (SELECT i.id FROM agent_instances i WHERE i.agent_id = st.ag::text || '@' || st.w)
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
            attempts = ae.attempts + EXCLUDED.attempts,
            updated_at = now()
        RETURNING (xmax = 0) AS was_inserted
    )
    SELECT count(*) FILTER (WHERE was_inserted), count(*) FILTER (WHERE NOT was_inserted)
    INTO inserted, updated FROM up;

    -- 4. busy while the instance's worker runs an execution of its type, idle otherwise.
    IF cardinality(touched) > 0 THEN
        UPDATE agent_instances AS i SET
            status = CASE WHEN r.task_id IS NULL THEN 'idle' ELSE 'busy' END::agent_status,
            current_task_id = r.task_id
        FROM (
            SELECT a.agent_id,
                   (SELECT e.task_id FROM agent_executions e
                     WHERE e.status = 'running' AND e.worker = a.worker
                       AND e.agent_type = a.agent_type
                     ORDER BY e.started_at DESC NULLS LAST LIMIT 1) AS task_id
            FROM agent_instances a WHERE a.agent_id = ANY(touched)
        ) AS r
        WHERE i.agent_id = r.agent_id
          AND i.status NOT IN ('offline', 'maintenance')
          AND (i.status::text, i.current_task_id) IS DISTINCT FROM
              (CASE WHEN r.task_id IS NULL THEN 'idle' ELSE 'busy' END, r.task_id);
    END IF;
    RETURN NEXT;
END
$fn$;

UPDATE alembic_version SET version_num='0006_record_batch' WHERE alembic_version.version_num = '0005_mirror_outbox';
