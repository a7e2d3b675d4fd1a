-- Named queries of the time partitions (persistence/partitions.py, docs/schema.md#partitions).

-- name: partitions
-- The partitions of one parent with their bounds (NULL, NULL: the default partition).
SELECT c.relname AS name,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz AS lower,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = to_regclass(%(parent)s)
ORDER BY lower NULLS LAST

-- name: create_ahead
SELECT agentq_create_partitions(to_regclass(%(parent)s), now(), now() + %(ahead)s * interval '1 week')

-- name: db_now
SELECT now()
