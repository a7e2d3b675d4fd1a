"""Parts of bench_drain: traffic, full-table load, recorder processes, checks, report."""
