"""The Celery app: ``celery -A workers.app worker|beat|flower`` works with it as is.

Importing this module builds the app object and registers tasks and hooks; it
opens no connection. Configuration is read from the environment the first time
Celery needs it (``workers.celeryconfig``).
"""

from __future__ import annotations

from tasks.celery_tasks import register_agent_tasks
from workers.beat import register_beat_tasks
from workers.broker.handoff import HandOffStep
from workers.celery_programs import AgentqCelery
from workers.health.progress import ProgressStep
from workers.recording import signals  # noqa: F401  (connects the lifecycle hooks)
from workers.recording.bootsteps import RecorderStep
from workers.tracing.setup import install_from_env as install_tracing

# LOG_LEVEL is the default of -l, SUPABASE_DEBUG and LOG_FORMAT apply (workers/logs.py);
# with LOG_FORMAT=json the worker and beat print no banner (workers/celery_programs.py).
app = AgentqCelery("agent_workers", log="workers.logs:CeleryLogging")
app.config_from_object("workers.celeryconfig")
register_agent_tasks(app)
register_beat_tasks(app)
app.steps["worker"].add(RecorderStep)
app.steps["worker"].add(HandOffStep)  # a job the pool cannot take is set aside
app.steps["worker"].add(ProgressStep)  # what it holds, when it last got anywhere: health
install_tracing()  # OpenTelemetry spans when OTEL_* asks for them (workers/tracing/)
