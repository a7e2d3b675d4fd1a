"""What celery beat runs, and how often: declarations only.

The logic of each entry lives in ``tasks/``; every entry is idempotent, so two
beat processes (or a restarted one) never double-count. The foundation schedules
nothing yet: metrics aggregation, system health, the stale-agent reaper and
retention arrive with the beat issue and are declared here.
"""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {}
