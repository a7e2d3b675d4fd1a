"""One soak producer process: publishes its slice of the plan, as the web app would.

``python -m workers.soak.producer PLAN OUT --slice I/N``: reads the plan (JSON lines, one
job each), publishes jobs ``I, I+N, ...`` over one broker connection (agent tasks through
``workers.producer.enqueue``, drills as the demo publishes them), revokes the jobs that
must end cancelled, and writes ``index task_id`` lines to OUT. Runs inside the soak's
producer namespace with the soak's broker in ``CELERY_BROKER_URL``.

A publish that fails (the broker restarting) is retried under the same task id, as a web
app would retry a request: a message that did reach the broker and is published again
runs twice under one id, which the record must show as one task. A job still not
published after ``PUBLISH_DEADLINE`` seconds is reported on stderr and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

PUBLISH_DEADLINE = 120.0


def publish(job: dict[str, Any], producer: Any, task_id: str) -> str:
    from workers.app import app
    from workers.demo.drills import drill_name
    from workers.producer import enqueue

    if job.get("seconds") is not None:
        from workers.soak.tasks import slow_name

        kwargs = {"task_type": job["task_type"], "input_data": job["input_data"]}
        sig = app.signature(slow_name(job["agent_type"]))
        kwargs["seconds"] = job["seconds"]
        # Pinned jobs jump the backlog (priority 0 is served first): the fault waits for them.
        options = {"queue": job["queue"], "priority": 0} if job.get("queue") else {}
        return str(sig.apply_async(kwargs=kwargs, producer=producer, task_id=task_id, **options).id)
    if job["fail_attempts"] is not None:
        kwargs = {"task_type": job["task_type"], "input_data": job["input_data"]}
        kwargs["fail_attempts"] = job["fail_attempts"]
        sig = app.signature(drill_name(job["agent_type"]))
        return str(sig.apply_async(kwargs=kwargs, producer=producer, task_id=task_id).id)
    return enqueue(
        job["agent_type"],
        job["task_type"],
        job["input_data"],
        session_id="soak",
        countdown=job["countdown"],
        producer=producer,
        task_id=task_id,
    )


def publish_until_sent(job: dict[str, Any], deadline: float) -> str | None:
    """Publish ``job``, retrying under one task id until ``deadline`` (monotonic)."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError

    from workers.app import app

    task_id = str(uuid.uuid4())
    pause = 0.2
    while True:
        try:
            with app.producer_or_acquire() as producer:
                return publish(job, producer, task_id)
        except (OperationalError, RedisConnectionError, OSError) as exc:
            if time.monotonic() + pause > deadline:
                print(f"not published after retries: {task_id}: {exc}", file=sys.stderr)
                return None
            time.sleep(pause)  # the broker is restarting: wait, then the same id again
            pause = min(pause * 2, 2.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("plan", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--slice", default="0/1")
    args = parser.parse_args(argv)
    from workers.app import app

    mine, every = (int(x) for x in args.slice.split("/"))
    jobs = [json.loads(line) for line in args.plan.read_text().splitlines()]
    revoke: list[str] = []
    failed = 0
    with args.out.open("w") as out:
        for index in range(mine, len(jobs), every):
            task_id = publish_until_sent(jobs[index], time.monotonic() + PUBLISH_DEADLINE)
            if task_id is None:
                failed += 1
                continue
            out.write(f"{index} {task_id}\n")
            out.flush()
            if jobs[index]["kind"] == "revoked":
                revoke.append(task_id)
                if len(revoke) >= 50:
                    app.control.revoke(revoke)
                    revoke.clear()
    if revoke:
        app.control.revoke(revoke)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
