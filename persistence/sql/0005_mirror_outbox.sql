-- 0005: the outbox of the Supabase mirror (persistence/mirror.py, persistence/outbox.py).
-- The REST backend records through agentq_record_batch() (0006) as an RPC.

-- Writes the mirror missed, in the primary, replayed in id order by beat. One row is
-- one store call: op 'record' (payload: transitions), 'instances' (a worker's status),
-- 'heartbeat',
-- 'call' (a service call). A row the mirror refuses for its data is kept, marked dead.
CREATE TABLE IF NOT EXISTS mirror_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY NOT NULL,
    op TEXT NOT NULL,
    payload JSONB NOT NULL,
    items INTEGER DEFAULT 1 NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    attempts INTEGER DEFAULT 0 NOT NULL,
    last_error TEXT,
    dead_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (id)
);

CREATE INDEX IF NOT EXISTS idx_mirror_outbox_pending ON mirror_outbox (id) WHERE dead_at IS NULL;

-- Row Level Security: nobody but the owner and service_role.
ALTER TABLE mirror_outbox ENABLE ROW LEVEL SECURITY;

-- service_role may do everything, authenticated may not even read it (0004's helper;
-- absent when SUPABASE_ENABLE_RLS=false skipped 0004).
DO $$ BEGIN
    IF to_regprocedure('agentq_enable_rls(regclass,boolean)') IS NOT NULL THEN
        PERFORM agentq_enable_rls('mirror_outbox', readable => false);
    END IF;
END $$;
