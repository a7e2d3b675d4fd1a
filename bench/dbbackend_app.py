"""The product's Celery app with bench/dbbackend_config.py as its configuration.

``celery -A bench.dbbackend_app worker`` and the benchmark's producer use it for
configuration (c). The app object is the product's (same tasks, same hooks); only
the configuration source changes, which Celery allows until the app is configured.
"""

from __future__ import annotations

from workers.app import app

if app.configured:  # pragma: no cover - would mean someone read the config at import
    raise RuntimeError("workers.app was configured before bench.dbbackend_app could swap it")
app.config_from_object("bench.dbbackend_config")

__all__ = ["app"]
