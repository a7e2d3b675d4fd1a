"""A production worker (``celery -A workers.app worker``, as the Dockerfile and
docker-compose.yml start it) registers the agents' tasks and nothing made for the soak or
the demo: ``agents.*.soak_slow`` (``workers/soak/tasks.py``) and ``agents.*.retry_drill``
(``workers/demo/drills.py``) exist only in workers started with ``-I`` for them.

The worker's startup banner lists every task it registered (``[tasks]`` at log level
info); the test reads that list from a real worker process.
"""

from __future__ import annotations

import pytest

from tasks.registry import load_agents
from tests.support.workers import WorkerProcess
from workers.routing import task_name

pytestmark = [pytest.mark.slow]

START_S = 120.0  # a busy machine may take long to start a worker
SOAK_ONLY = (".soak_slow", ".retry_drill")


def registered_tasks(banner: str) -> set[str]:
    """The task names under ``[tasks]`` in a Celery worker's startup banner."""
    if "[tasks]" not in banner:
        raise ValueError("no [tasks] section in the worker's output (log level below info?)")
    names: set[str] = set()
    for line in banner.split("[tasks]", 1)[1].splitlines()[1:]:
        line = line.strip()
        if not line:
            if names:
                break
            continue
        if not line.startswith(". "):
            break
        names.add(line[2:].split()[0])
    return names


def test_the_banner_parser_reads_the_task_list() -> None:
    banner = "x\n[tasks]\n  . agents.content.generate\n  . agents.quiz.generate [x]\n\n[log] y"
    assert registered_tasks(banner) == {"agents.content.generate", "agents.quiz.generate"}
    with pytest.raises(ValueError, match=r"\[tasks\]"):
        registered_tasks("no banner")


def _registered(name: str, include: tuple[str, ...]) -> set[str]:
    worker = WorkerProcess(name, concurrency=1, include=include).start(timeout=START_S)
    try:
        return registered_tasks(worker.output())
    finally:
        worker.stop()


def test_a_production_worker_registers_no_soak_or_demo_task(clean: str) -> None:
    names = _registered("production", include=())
    assert {task_name(agent_type) for agent_type in load_agents()} <= names
    assert not [n for n in names if n.endswith(SOAK_ONLY)], sorted(names)


def test_the_soak_worker_does_register_them(clean: str) -> None:
    # The soak's workers (workers/soak/fleet.py) include both modules: the check above
    # would see the tasks if a production worker had them.
    names = _registered("soak", include=("workers.demo.drills", "workers.soak.tasks"))
    for suffix in SOAK_ONLY:
        assert {task_name(t) + suffix for t in load_agents()} <= names
