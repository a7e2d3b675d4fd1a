-- Lever (bench_drain --ab-sql): three indexes fewer on agent_executions, those whose columns
-- a terminal update changes and no recorder statement reads (every merge update is non-HOT,
-- so it writes every index: here 7 instead of 10).
DROP INDEX idx_agent_executions_updated_at;
DROP INDEX idx_agent_executions_completed_at;
DROP INDEX idx_agent_executions_performance;
-- off
CREATE INDEX idx_agent_executions_updated_at ON agent_executions (updated_at);
CREATE INDEX idx_agent_executions_completed_at ON agent_executions (completed_at)
    WHERE completed_at IS NOT NULL;
CREATE INDEX idx_agent_executions_performance ON agent_executions
    (execution_time_seconds, quality_score);
