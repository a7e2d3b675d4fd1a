-- Lever under trial (bench_drain --apply-sql): with the status, times and updated_at
-- indexed every merge update is non-HOT and writes every index of agent_executions; here
-- the three whose columns every terminal update changes and no recorder query reads
-- (updated_at: the realtime catch-up; completed_at; execution_time/quality_score).
DROP INDEX idx_agent_executions_updated_at;
DROP INDEX idx_agent_executions_completed_at;
DROP INDEX idx_agent_executions_performance;
