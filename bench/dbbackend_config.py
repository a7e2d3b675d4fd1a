"""Celery configuration for configuration (c) of the recording benchmark.

The product's configuration, plus what a user would switch on to keep task states
with Celery alone: the SQLAlchemy result backend in the same PostgreSQL database,
results stored, and the STARTED state tracked. Recording stays off (the benchmark
sets ``AGENTQ_RECORDING=false`` for this configuration).
"""

from __future__ import annotations

from workers.celeryconfig import *  # noqa: F403  (everything else stays the product's)
from workers.settings import get_settings

# "db+" selects celery.backends.database; the psycopg 3 dialect is the product's driver.
result_backend = "db+" + get_settings().sqlalchemy_url  # type: ignore[assignment]
task_ignore_result = False
task_track_started = True
