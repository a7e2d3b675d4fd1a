-- Lever under trial (bench_drain --apply-sql): what HOT would need. fillfactor 70 and no
-- index on any column a merge update changes (status, worker, times, scores, updated_at,
-- agent_instance_id): the ceiling of "indexes that let status updates stay HOT", not a
-- schema anyone could ship (the integration design's queries use these indexes).
ALTER TABLE agent_executions SET (fillfactor = 70);
DROP INDEX idx_agent_executions_updated_at;
DROP INDEX idx_agent_executions_completed_at;
DROP INDEX idx_agent_executions_performance;
DROP INDEX idx_agent_executions_status_created;
DROP INDEX idx_agent_executions_running_worker;
DROP INDEX idx_agent_executions_agent_instance_id;
