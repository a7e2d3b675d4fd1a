"""``agentq up`` / ``agentq down``: the embedded PostgreSQL and Redis (and, on request, a
worker, beat and the page) running in the background, recorded in a state directory so
that every ``agentq`` command finds them (``workers.local.state``)."""
