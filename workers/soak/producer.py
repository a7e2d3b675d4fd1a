"""One soak producer process: publishes its slice of the plan, as the web app would.

``python -m workers.soak.producer PLAN OUT --slice I/N``: reads the plan (JSON lines, one
job each), publishes jobs ``I, I+N, ...`` over one broker connection (agent tasks through
``workers.producer.enqueue``, drills as the demo publishes them), revokes the jobs that
must end cancelled, and writes ``index task_id`` lines to OUT. Runs inside the soak's
producer namespace with the soak's broker in ``CELERY_BROKER_URL``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def publish(job: dict[str, Any], producer: Any) -> str:
    from workers.app import app
    from workers.demo.drills import drill_name
    from workers.producer import enqueue

    if job.get("seconds") is not None:
        from workers.soak.tasks import slow_name

        kwargs = {"task_type": job["task_type"], "input_data": job["input_data"]}
        sig = app.signature(slow_name(job["agent_type"]))
        return str(
            sig.apply_async(kwargs={**kwargs, "seconds": job["seconds"]}, producer=producer).id
        )
    if job["fail_attempts"] is not None:
        kwargs = {"task_type": job["task_type"], "input_data": job["input_data"]}
        kwargs["fail_attempts"] = job["fail_attempts"]
        sig = app.signature(drill_name(job["agent_type"]))
        return str(sig.apply_async(kwargs=kwargs, producer=producer).id)
    return enqueue(
        job["agent_type"],
        job["task_type"],
        job["input_data"],
        session_id="soak",
        countdown=job["countdown"],
        producer=producer,
    )


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
    with args.out.open("w") as out, app.producer_or_acquire() as producer:
        for index in range(mine, len(jobs), every):
            task_id = publish(jobs[index], producer)
            out.write(f"{index} {task_id}\n")
            out.flush()
            if jobs[index]["kind"] == "revoked":
                revoke.append(task_id)
                if len(revoke) >= 50:
                    app.control.revoke(revoke)
                    revoke.clear()
    if revoke:
        app.control.revoke(revoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
