"""agent workers: the Celery side (app, settings, signal hooks, recorder, producer, CLI)."""
