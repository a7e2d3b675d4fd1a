-- 0002: what the metrics aggregation needs (persistence/metrics.py, persistence/sql/metrics.sql).

-- Per-type rows have agent_instance_id NULL, and NULLs never collide in the integration design's
-- unique_agent_period (agent_instance_id, period_start): this is their upsert key.
CREATE UNIQUE INDEX IF NOT EXISTS uq_agent_metrics_type_period
    ON agent_metrics (agent_type, period_start, period_duration_minutes)
    WHERE agent_instance_id IS NULL;

-- The executions that finished in a period: completed_at is set exactly when the status
-- is terminal (completed, failed, cancelled), so the index holds only finished rows.
CREATE INDEX IF NOT EXISTS idx_agent_executions_completed_at
    ON agent_executions (completed_at)
    WHERE completed_at IS NOT NULL;
