"""The worker bootstep that runs the embedded recorder and registers agent instances.

Started in the worker's main process (never in pool children). At start the
worker's agent instances go initializing → idle and the recorder starts, as a child
process (``workers/recording/recorder_process.py``) or, with ``AGENTQ_RECORDER_PROCESS=false``, as
a thread; at shutdown (Celery's ``worker_shutdown``, sent after the pool has finished
its tasks) they go offline and the recorder drains what is left before it exits.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import bootsteps, signals

from persistence import wire
from workers.recording import recorder_process
from workers.recording.recorder import Recorder
from workers.recording.signals import get_sink
from workers.routing import agent_type_of
from workers.settings import get_settings

logger = logging.getLogger(__name__)

_running: dict[str, Any] = {}


def served_agent_types(worker: Any) -> list[str]:
    """Agent types whose queue this worker consumes and whose task it has."""
    app = worker.app
    queues = set(app.amqp.queues.consume_from or app.amqp.queues)
    types = {agent_type_of(name) for name in app.tasks}
    return sorted(t for t in types if t is not None and t in queues)


class RecorderStep(bootsteps.StartStopStep):
    label = "agentq recorder"
    # Start after the pool has forked its processes: a child forked while the recorder
    # thread holds a lock (a socket, a connection pool) would inherit that lock held.
    requires = ("celery.worker.components:Pool",)

    def start(self, worker: Any) -> None:
        settings = get_settings()
        if not settings.recording:
            return
        hostname = worker.hostname
        agent_types = served_agent_types(worker)
        sink = get_sink()
        if sink is not None and agent_types:
            sink.emit([wire.instance(hostname, agent_types, "initializing", time.time())])
            sink.emit([wire.instance(hostname, agent_types, "idle", time.time())])
        _running["worker"] = (hostname, agent_types)
        if not settings.embedded_recorder:
            return
        if settings.recorder_process:
            _running["process"] = recorder_process.spawn(hostname, agent_types)
        else:
            recorder = recorder_process.build_recorder(settings, hostname, (hostname, agent_types))
            recorder.start()
            _running["recorder"] = recorder
        logger.info(
            "agentq: recording %s for %s (recorder %s)",
            hostname,
            ", ".join(agent_types) or "no agents",
            "process" if settings.recorder_process else "thread",
        )

    def shutdown(self, worker: Any) -> None:
        # Cold shutdown: worker_shutdown is not sent.
        _finish()


@signals.worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    _finish()


def _finish() -> None:
    target = _running.pop("worker", None)
    sink = get_sink()
    if target is not None and sink is not None and target[1]:
        sink.emit([wire.instance(target[0], list(target[1]), "offline", time.time())])
    if sink is not None:
        sink.flush()  # in the stream before the recorder's last drain
    recorder: Recorder | None = _running.pop("recorder", None)
    if recorder is not None:
        recorder.stop(drain_seconds=5.0)
        recorder.store.close()
    proc = _running.pop("process", None)
    if proc is not None:  # it drains the stream (the offline event included), then exits
        recorder_process.stop(proc)
