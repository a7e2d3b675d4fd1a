# The one image every service of docker-compose.yml runs (worker, beat, flower, migrate).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md beat_schedule.py ./
COPY workers ./workers
COPY tasks ./tasks
COPY persistence ./persistence
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 1000 agentq
USER agentq
CMD ["celery", "-A", "workers.app", "worker", "-l", "info"]
