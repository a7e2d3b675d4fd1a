"""The fleet's Celery app, for publishing lost tasks again and asking workers.

``workers.app`` imports beat's tasks, one of which runs the reconciler: a static import
of it from here would close an import cycle (app -> beat -> reconciler -> app). So it is
imported by name when first needed; by then it is loaded in every process that runs a
pass (a worker, beat, ``agentq``), and importing it connects to nothing.
"""

from __future__ import annotations

import importlib
from typing import Any


def fleet_app() -> Any:
    return importlib.import_module("workers.app").app
