-- Lever under trial (bench_drain --apply-sql): the history without its foreign key to the
-- executions (the deferred check per history row at commit; retention's cascade lost).
ALTER TABLE agent_execution_events DROP CONSTRAINT agent_execution_events_task_id_fkey;
