-- 0013: indexes for the page's and the API's reads at a month and more of data
-- (bench/bench_queries.py times every query; docs/benchmarks.md has the numbers).
--
-- Cost: the recorder's updates of an execution are never HOT (updated_at and status are
-- indexed already), so each index here gains one entry per version of a row, like every
-- other index of the table; bench/README.md has the drain measured with and without them.

-- The page's default view, the newest executions by (created_at DESC, task_id DESC), and
-- its next pages (persistence/sql/browse.sql (list_executions)): without an index on
-- exactly that key, a scan and a sort of the whole table.
CREATE INDEX IF NOT EXISTS idx_agent_executions_created_task
    ON agent_executions (created_at, task_id);

-- One user's executions, newest first: the same keyset within the user.
CREATE INDEX IF NOT EXISTS idx_agent_executions_user_created_task
    ON agent_executions (user_id, created_at, task_id);

-- Executions whose status changed in the last minutes, for the health report
-- (persistence/sql/health.sql (executions_by_status)): otherwise a day of rows is read.
CREATE INDEX IF NOT EXISTS idx_agent_executions_status_at
    ON agent_executions (status_at);

-- Metrics of the last hours are chosen by period_end
-- (persistence/sql/metrics.sql (get_agent_metrics)).
CREATE INDEX IF NOT EXISTS idx_agent_metrics_period_end
    ON agent_metrics (period_end);
