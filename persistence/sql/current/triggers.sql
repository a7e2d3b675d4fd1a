-- The current definition of every trigger of the schema (see functions.sql beside this file:
-- the same rules; tests/integration/test_current_sql.py compares pg_get_triggerdef).

-- name: update_agent_instances_updated_at
-- The integration design's updated_at trigger.
CREATE OR REPLACE TRIGGER update_agent_instances_updated_at BEFORE UPDATE ON agent_instances
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- name: agentq_realtime_executions_insert
-- The change feed (docs/realtime.md). Silent when the session's agentq.realtime is 'off'; the
-- executions triggers also leave the recorder's own statements alone (agentq.notified = 'on'
-- while agentq_record_batch_within() runs: it notifies its executions itself). A trigger
-- with a transition table serves one event: one for INSERT, one for UPDATE.
CREATE OR REPLACE TRIGGER agentq_realtime_executions_insert AFTER INSERT ON agent_executions
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT
    WHEN (current_setting('agentq.realtime', true) IS DISTINCT FROM 'off'
          AND current_setting('agentq.notified', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION agentq_realtime_notify();

-- name: agentq_realtime_executions_update
CREATE OR REPLACE TRIGGER agentq_realtime_executions_update AFTER UPDATE ON agent_executions
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT
    WHEN (current_setting('agentq.realtime', true) IS DISTINCT FROM 'off'
          AND current_setting('agentq.notified', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION agentq_realtime_notify();

-- name: agentq_realtime_instances_insert
CREATE OR REPLACE TRIGGER agentq_realtime_instances_insert AFTER INSERT ON agent_instances
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT
    WHEN (current_setting('agentq.realtime', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION agentq_realtime_notify();

-- name: agentq_realtime_instances_update
-- Heartbeat-only updates are no news: the WHEN clause drops them before any function runs.
CREATE OR REPLACE TRIGGER agentq_realtime_instances_update AFTER UPDATE ON agent_instances
    FOR EACH ROW
    WHEN ((OLD.status, OLD.current_task_id, OLD.total_tasks_completed, OLD.total_tasks_failed,
           OLD.last_activity, OLD.worker, OLD.agent_type, OLD.configuration)
          IS DISTINCT FROM
          (NEW.status, NEW.current_task_id, NEW.total_tasks_completed, NEW.total_tasks_failed,
           NEW.last_activity, NEW.worker, NEW.agent_type, NEW.configuration)
          AND current_setting('agentq.realtime', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION agentq_realtime_notify_row();

-- name: agentq_realtime_metrics_insert
CREATE OR REPLACE TRIGGER agentq_realtime_metrics_insert AFTER INSERT ON agent_metrics
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT
    WHEN (current_setting('agentq.realtime', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION agentq_realtime_notify();

-- name: agentq_realtime_metrics_update
CREATE OR REPLACE TRIGGER agentq_realtime_metrics_update AFTER UPDATE ON agent_metrics
    REFERENCING NEW TABLE AS agentq_changed
    FOR EACH STATEMENT
    WHEN (current_setting('agentq.realtime', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION agentq_realtime_notify();

-- name: agentq_realtime_health_insert
-- beat writes one health row at a time: a row trigger.
CREATE OR REPLACE TRIGGER agentq_realtime_health_insert AFTER INSERT ON system_health
    FOR EACH ROW
    WHEN (current_setting('agentq.realtime', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION agentq_realtime_notify_row();
