-- Lever under trial (bench_drain --apply-sql): room on each page of the executions for
-- HOT updates (a new row version on the same page, no index entry) — only for updates that
-- change no indexed column.
ALTER TABLE agent_executions SET (fillfactor = 70);
