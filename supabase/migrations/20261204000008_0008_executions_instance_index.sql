-- agentq: generated from Alembic revision 0008_executions_instance_index (0008_executions_instance_index.py).
-- Do not edit: regenerate with `agentq migrate --supabase-dir supabase/migrations`.
-- index agent_executions(agent_instance_id): the instance cascade and history use it

-- Running upgrade 0007_record_batch_speed -> 0008_executions_instance_index

-- 0008: an index on agent_executions(agent_instance_id).
--
-- Why: deleting an agent instance cascades to its executions (ON DELETE CASCADE), and an
-- instance's history ("what did this worker run") filters on the column; without an index
-- both scan the whole table. The recorder sets the column once per execution (when it
-- starts running), so the index costs one entry per execution, not one per transition.
CREATE INDEX IF NOT EXISTS idx_agent_executions_agent_instance_id
    ON agent_executions (agent_instance_id);

UPDATE alembic_version SET version_num='0008_executions_instance_index' WHERE alembic_version.version_num = '0007_record_batch_speed';
