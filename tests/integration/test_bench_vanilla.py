"""The benchmark's vanilla anchors stay vanilla: a real ``celery -A bench.vanilla_app``
worker and the benchmark's producer load nothing of the product's broker layer, hooks or
app, and (v) sends no task event while (f) does (bench/recording/watch.py's checks, run
here on real processes; the benchmark applies the same checks to every run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.recording.watch import EventCounter, agentq_imports, kombu_connection, task_event_count
from tests.support.workers import ROOT, WorkerProcess, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TASKS = 5


def _vanilla_worker(events: bool) -> WorkerProcess:
    worker = WorkerProcess(
        "vanilla-events" if events else "vanilla",
        concurrency=1,
        env={"BENCH_TASK_EVENTS": "true" if events else "false"},
    )
    # The product app and its test tasks out, vanilla Celery under -X importtime in.
    args = worker.args
    at = args.index("workers.app")
    args[at] = "bench.vanilla_app"
    include = args.index("-I")
    del args[include : include + 2]
    args[1:1] = ["-X", "importtime"]
    return worker


def _produce(n: int, events: bool) -> dict[str, object]:
    """bench/producer.py on the vanilla app: its ready line names product modules loaded."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.producer", "--app", "bench.vanilla_app", "--tasks", str(n)],
        cwd=ROOT,
        env={**os.environ, "BENCH_TASK_EVENTS": "true" if events else "false"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    proc.stdin.write("go\n")
    proc.stdin.flush()
    json.loads(proc.stdout.readline())
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    return dict(ready)


def _ran(n: int, hostname: str) -> bool:
    from bench.vanilla_app import app

    with kombu_connection(os.environ["CELERY_BROKER_URL"]) as conn:
        inspect = app.control.inspect(destination=[hostname], timeout=2, connection=conn)
        stats = inspect.stats() or {}
    total = (stats.get(hostname) or {}).get("total", {})
    return bool(total.get("agents.content_generator.noop") == n)


@pytest.mark.parametrize("events", [False, True], ids=["v", "f"])
def test_vanilla_anchor(clean: str, redis_client: object, events: bool) -> None:
    counter = EventCounter(redis_client)  # type: ignore[arg-type]
    try:
        with _vanilla_worker(events) as worker:
            ready = _produce(TASKS, events)
            wait_for(lambda: _ran(TASKS, worker.hostname), 60, what="the vanilla worker's tasks")
            if events:  # the counter hears a worker that sends them: the check can fail
                wait_for(lambda: counter.counts["task-succeeded"] == TASKS, 30, what="task events")
            log = worker.output()
    finally:
        counts = counter.stop()
    assert ready["agentq_modules"] == []
    assert "celery.worker.consumer" in log  # -X importtime really logged the worker's imports
    assert agentq_imports(log) == []
    assert task_event_count(counts) == (4 * TASKS if events else 0), counts  # sent, received,
    # started, succeeded for (f); nothing at all for (v)


def test_the_import_check_finds_the_product() -> None:
    """What agentq_imports reads from a process that does load the product's app."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import workers.app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = agentq_imports(out.stderr)
    assert "workers.broker.redis_transport" in found or "workers.app" in found
    assert "workers.recording.signals" in found


def test_vanilla_config_is_only_what_it_says() -> None:
    """No setting of the product's configuration creeps into the anchor's."""
    import bench.vanilla_config as cfg

    settings = {k for k in vars(cfg) if not k.startswith("_") and k.islower()}
    settings -= {"annotations", "os", "agent_queues", "route_task"}
    assert settings == {
        "broker_url",
        "task_serializer",
        "accept_content",
        "task_acks_late",
        "task_reject_on_worker_lost",
        "task_ignore_result",
        "task_queues",
        "task_routes",
        "worker_send_task_events",
        "task_send_sent_event",
    }
    assert Path(cfg.__file__).name == "vanilla_config.py"
