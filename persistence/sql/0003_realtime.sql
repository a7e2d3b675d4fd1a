-- 0003: the realtime change feed (workers/realtime/, `agentq realtime`).
--
-- Committed changes to agent_executions, agent_instances and agent_metrics are announced
-- on the NOTIFY channel `agentq_realtime` with the payload '<table>:<id>,<id>,...'; the
-- bridge LISTENs and fetches the current rows by id. NOTIFY is delivered only at commit,
-- so only committed data is ever pushed (the self-hosted twin of Supabase Realtime).
--
-- Why statement-level triggers with transition tables: the recorder writes executions in
-- set-based statements (agentq_record_batch), so one trigger call per statement, not per
-- row, keeps the recording path cheap. (Instance updates touch a row or two, and most are
-- heartbeats: a row trigger whose WHEN clause skips those costs less there.) Ids only
-- (36 bytes each), 150 per notification, keep every payload far below NOTIFY's 8000-byte
-- limit and the shared notification queue small. Idempotent: CREATE OR REPLACE throughout.

-- Catch-up after a lost LISTEN connection reads executions changed since a time.
-- (agent_instances is small and read whole by updated_at, which the integration design's trigger keeps.)
CREATE INDEX IF NOT EXISTS idx_agent_executions_updated_at ON agent_executions (updated_at);

-- Every row of the statement's transition table `agentq_changed`. Most statements touch
-- a few rows: one aggregate, one notification; the chunking query runs only for more.
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

-- One row (instances: a few rows per statement, so a row trigger is cheaper there).
CREATE OR REPLACE FUNCTION agentq_realtime_notify_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentq_realtime', TG_TABLE_NAME || ':' || NEW.id::text);
    RETURN NULL;
END;
$$;

-- A trigger with transition tables serves one event only: one for INSERT, one for UPDATE.
-- (INSERT ... ON CONFLICT DO UPDATE fires both, each with its own rows.) Deletes
-- (retention) are not announced.
CREATE OR REPLACE TRIGGER agentq_realtime_executions_insert AFTER INSERT ON agent_executions
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT EXECUTE FUNCTION agentq_realtime_notify();
CREATE OR REPLACE TRIGGER agentq_realtime_executions_update AFTER UPDATE ON agent_executions
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT EXECUTE FUNCTION agentq_realtime_notify();

CREATE OR REPLACE TRIGGER agentq_realtime_instances_insert AFTER INSERT ON agent_instances
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT EXECUTE FUNCTION agentq_realtime_notify();
-- Heartbeat-only updates (every worker, every few seconds, per agent type) are no news:
-- the WHEN clause drops them before any function is called.
CREATE OR REPLACE TRIGGER agentq_realtime_instances_update AFTER UPDATE ON agent_instances
    FOR EACH ROW
    WHEN ((OLD.status, OLD.current_task_id, OLD.total_tasks_completed, OLD.total_tasks_failed,
           OLD.last_activity, OLD.worker, OLD.agent_type, OLD.configuration)
          IS DISTINCT FROM
          (NEW.status, NEW.current_task_id, NEW.total_tasks_completed, NEW.total_tasks_failed,
           NEW.last_activity, NEW.worker, NEW.agent_type, NEW.configuration))
    EXECUTE FUNCTION agentq_realtime_notify_row();

CREATE OR REPLACE TRIGGER agentq_realtime_metrics_insert AFTER INSERT ON agent_metrics
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT EXECUTE FUNCTION agentq_realtime_notify();
CREATE OR REPLACE TRIGGER agentq_realtime_metrics_update AFTER UPDATE ON agent_metrics
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT EXECUTE FUNCTION agentq_realtime_notify();
