"""``bench.bench_recording``'s parts: configurations and results (``configs``), CPU from
/proc (``procstat``), the runs (``harness``), medians, ratios and targets (``report``)."""
