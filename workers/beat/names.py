"""The names of beat's tasks: the one definition the tasks, the schedule
(``beat_schedule.py``) and the routing (every ``agentq.beat.*`` task goes to the
``agentq.beat`` queue, ``workers/routing.py``) all use."""

AGGREGATE_METRICS = "agentq.beat.aggregate_metrics"
SYSTEM_HEALTH = "agentq.beat.system_health"
REAP_STALE = "agentq.beat.reap_stale"
RETENTION = "agentq.beat.retention"
PARTITIONS = "agentq.beat.partitions"
REPLAY_OUTBOX = "agentq.beat.replay_outbox"
RECONCILE = "agentq.beat.reconcile"
