"""``agentq demo``: embedded servers, the batch, the drills and the report."""
