-- 0008: an index on agent_executions(agent_instance_id).
--
-- Why: deleting an agent instance cascades to its executions (ON DELETE CASCADE), and an
-- instance's history ("what did this worker run") filters on the column; without an index
-- both scan the whole table. The recorder sets the column once per execution (when it
-- starts running), so the index costs one entry per execution, not one per transition.
CREATE INDEX IF NOT EXISTS idx_agent_executions_agent_instance_id
    ON agent_executions (agent_instance_id);
