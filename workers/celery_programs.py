"""The Celery app class, with ``celery worker`` and ``celery beat`` programs that honour
``LOG_FORMAT=json``.

Celery's logging class (:class:`workers.logs.CeleryLogging`) formats what goes through
``logging``; these programs also write outside it, which a JSON log must not contain:

* the banners (``print`` to stdout) — off, as with ``celery -q``; what they show is
  logged anyway (``Connected to ...``, ``ready.``, ``beat: Starting...``);
* the worker's notices from its signal handlers (``worker: Warm shutdown``), written with
  ``celery.apps.worker.safe_say`` — replaced by a JSON writer in this process;
* warnings raised before Celery sets logging up (running as root) — captured into a
  provisional JSON handler on the root logger, which Celery's setup then replaces.

``Celery.Worker`` / ``Celery.Beat`` are the classes the ``celery`` command instantiates;
overriding them is Celery's way to customise its programs (``subclass_with_self``).
"""

from __future__ import annotations

import logging
from typing import Any

import celery.apps.worker
from celery import Celery
from celery.apps.beat import Beat
from celery.apps.worker import Worker
from kombu.utils.objects import cached_property

from workers.log_json import json_handler, say_json, set_worker
from workers.logs import json_logs


class AgentqWorker(Worker):
    def on_before_init(self, quiet: bool = False, **kwargs: Any) -> None:
        set_worker(self.hostname)  # the `worker` field, inherited by the pool processes
        if json_logs():
            logging.basicConfig(handlers=[json_handler()], force=True)
            logging.captureWarnings(True)
            celery.apps.worker.safe_say = say_json
            quiet = True
        super().on_before_init(quiet=quiet, **kwargs)


class AgentqBeat(Beat):
    def __init__(self, *args: Any, quiet: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, quiet=quiet or json_logs(), **kwargs)


class AgentqCelery(Celery):
    @cached_property
    def Worker(self) -> Any:
        return self.subclass_with_self("workers.celery_programs:AgentqWorker")

    @cached_property
    def Beat(self) -> Any:
        return self.subclass_with_self("workers.celery_programs:AgentqBeat")
