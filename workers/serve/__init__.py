"""``agentq serve``: the HTTP server (health, Supabase health, Prometheus metrics)."""
