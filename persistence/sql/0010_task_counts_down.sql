-- 0010 undone: the counters go; revision 0009's agentq_record_batch_within() is put back
-- by the downgrade (persistence/migrations/versions/0010_task_counts.py) before this runs.
DROP FUNCTION IF EXISTS agentq_count_transitions(agentq_wire_event[]);
DROP FUNCTION IF EXISTS agentq_bucket(double precision);
DROP TABLE IF EXISTS agentq_task_counts;
