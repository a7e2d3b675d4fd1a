-- Lever (bench_drain --ab-sql): the history without its foreign key to the executions (the
-- deferred check of each new history row at commit, a KEY SHARE lock on its execution).
ALTER TABLE agent_execution_events DROP CONSTRAINT agent_execution_events_task_id_fkey;
-- off
ALTER TABLE agent_execution_events ADD CONSTRAINT agent_execution_events_task_id_fkey
    FOREIGN KEY (task_id) REFERENCES agent_executions (task_id) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED;
