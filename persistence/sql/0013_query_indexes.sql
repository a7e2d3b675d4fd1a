-- 0013: indexes for the page's and the API's reads at a year of data
-- (bench/bench_queries.py measures every query; docs/benchmarks.md has the numbers).
--
-- The page's default view is the newest executions by (created_at DESC, task_id DESC)
-- (browse.sql list_executions): without an index on exactly that key it is a scan and a
-- sort of the whole table. created_at is written when the row is made and only ever moves
-- earlier, so the index costs one entry per execution's version (bench/README.md: the
-- drain measured with and without it).
CREATE INDEX IF NOT EXISTS idx_agent_executions_created_task
    ON agent_executions (created_at, task_id);

-- Metrics of the last hours (metrics.sql get_agent_metrics) are chosen by period_end.
CREATE INDEX IF NOT EXISTS idx_agent_metrics_period_end
    ON agent_metrics (period_end);
