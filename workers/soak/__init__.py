"""agentq soak: a fleet of worker hosts in network namespaces under overlapping faults."""
