-- Named queries of the mirror's outbox, mirror_outbox (revision 0005;
-- persistence/outbox.py). Each block starts with "-- name: <name>"; parameters are
-- psycopg's %(name)s.

-- name: table_exists
SELECT to_regclass('mirror_outbox') IS NOT NULL

-- name: append
INSERT INTO mirror_outbox (op, payload, items) VALUES (%(op)s, %(p)s::jsonb, %(n)s)

-- name: backlog
SELECT count(*) FROM mirror_outbox WHERE dead_at IS NULL

-- name: has_backlog
-- One index probe.
SELECT EXISTS (SELECT 1 FROM mirror_outbox WHERE dead_at IS NULL)

-- name: stats
-- Backlog (rows and the items in them), dead rows, the oldest waiting row's age and the
-- last replay error (a waiting row's first, else a dead row's).
SELECT count(*) FILTER (WHERE dead_at IS NULL) AS backlog,
       COALESCE(sum(items) FILTER (WHERE dead_at IS NULL), 0) AS backlog_items,
       count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
       EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE dead_at IS NULL))
           AS oldest_age_seconds,
       (SELECT last_error FROM mirror_outbox WHERE last_error IS NOT NULL
         ORDER BY dead_at IS NULL DESC, id LIMIT 1) AS last_error
FROM mirror_outbox

-- name: try_replay_lock
-- One replayer at a time (held until the transaction ends).
SELECT pg_try_advisory_xact_lock(%(k)s)

-- name: next_entries
SELECT id, op, payload, items FROM mirror_outbox WHERE dead_at IS NULL
ORDER BY id LIMIT %(n)s

-- name: note_failure
-- The mirror could not take the row now: it stays, with why.
UPDATE mirror_outbox SET attempts = attempts + 1, last_error = %(err)s
WHERE id = %(id)s

-- name: delete_replayed
DELETE FROM mirror_outbox WHERE id = ANY(%(ids)s)

-- name: mark_dead
-- The mirror refused the row's data: kept, skipped from now on.
UPDATE mirror_outbox SET dead_at = now(), attempts = attempts + 1, last_error = %(err)s
WHERE id = %(id)s
