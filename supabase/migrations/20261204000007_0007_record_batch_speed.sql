-- agentq: generated from Alembic revision 0007_record_batch_speed (0007_record_batch_speed.py).
-- Do not edit: regenerate with `agentq migrate --supabase-dir supabase/migrations`.
-- agentq_record_batch() cheaper per transition; instances updated once, last, in order

-- Running upgrade 0006_record_batch -> 0007_record_batch_speed

-- 0007: agentq_record_batch() again, cheaper per transition and without serializing
-- recorders (bench/README.md, bench_drain). Same rows, same merge (persistence/lifecycle.py);
-- what changed, and why:
--
-- * The batch's JSON is parsed once. 0006 parsed it three times: the caller's guard on
--   "at" (json_to_recordset), json_array_length() and json_populate_recordset().
--   The guard is now done on the parsed events, by agentq_record_batch_within() (which the
--   SQL store calls): no row comes back, and nothing is written, when an "at" is out of
--   bounds. agentq_record_batch(batch) (the REST backend's RPC) is that without bounds.
-- * The agent instances are updated once per batch, last, just before the commit, and
--   their rows locked in agent_id order first (no deadlock between recorders). 0006 upserted
--   the counters first and updated busy/idle last: every instance row a batch touched was
--   written twice and locked through the whole merge, so concurrent recorders waited for
--   each other's commit. A missing instance is created up front without taking any lock on
--   existing rows (ON CONFLICT DO NOTHING): executions reference it.
-- * busy/idle is computed after the lock is held, by a statement of its own: it sees what
--   every recorder that held the lock before has committed.

-- The batch in one call; no row when an event's "at" lies outside [min_at, max_at] (NULL
-- bounds: no check). A name of its own, not an overload: PostgREST resolves RPCs by name.
CREATE OR REPLACE FUNCTION agentq_record_batch_within(batch json, min_at double precision,
                                                      max_at double precision)
RETURNS TABLE (received integer, new_events integer, inserted integer, updated integer)
LANGUAGE plpgsql AS $fn$
DECLARE
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
        ORDER BY e.id
        ON CONFLICT (id) DO NOTHING
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

-- The REST backend's RPC, unchanged for its callers: no bounds on "at", as in 0006.
CREATE OR REPLACE FUNCTION agentq_record_batch(batch json)
RETURNS TABLE (received integer, new_events integer, inserted integer, updated integer)
LANGUAGE sql AS $$
    SELECT * FROM agentq_record_batch_within(batch, NULL, NULL)
$$;

UPDATE alembic_version SET version_num='0007_record_batch_speed' WHERE alembic_version.version_num = '0006_record_batch';
