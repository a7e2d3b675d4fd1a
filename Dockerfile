# The one image every service of docker-compose.yml runs (migrate, worker, beat, flower,
# realtime, health).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 AGENTQ_DATA_DIR=/var/lib/agentq
WORKDIR /app
COPY pyproject.toml README.md beat_schedule.py ./
COPY workers ./workers
COPY tasks ./tasks
COPY persistence ./persistence
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 1000 agentq \
    && mkdir -p /var/lib/agentq && chown agentq:agentq /var/lib/agentq
USER agentq
# Named volumes mounted here start with this owner, so beat and the spool can write.
VOLUME ["/var/lib/agentq"]
# No -l: LOG_LEVEL decides (docs/settings.md).
CMD ["celery", "-A", "workers.app", "worker"]
