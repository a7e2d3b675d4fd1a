"""What the soak enqueues, and the final state each task must reach.

The demo's batch (every agent type with its example input, retry drills that complete
on attempt 2, drills that exhaust their retries, a quiz the handler fails), plus tasks
with a countdown (complete) and tasks revoked while they wait for their countdown
(cancelled; the soak publishes and revokes them before any fault starts, since Celery
keeps revokes in the workers' memory and a worker cut off or restarted would miss
them), and slow tasks (the agent after a pause, so that faults find tasks in flight).
Every job knows its expected final status and attempt before it runs. The
order is shuffled with the run's seed, so a run can be replayed exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from workers.demo.batch import Job, plan_batch
from workers.demo.drills import DRILL_MAX_RETRIES

EXPECTED = {  # kind -> (final status, final attempt = retry_count)
    "ok": ("completed", 0),
    "retry": ("completed", 1),
    "exhausted": ("failed", DRILL_MAX_RETRIES),
    "bad_content": ("failed", 0),
    "countdown": ("completed", 0),
    "revoked": ("cancelled", 0),
    "slow": ("completed", 0),
}
REVOKED_SHARE = 0.01
COUNTDOWN_SHARE = 0.05
SLOW_SHARE = 0.03
# Longer than the skewed host's lead (5 s) plus the revoke's way there: a host whose clock
# runs ahead runs an ETA task early by its lead, before a revoke could reach it.
REVOKED_COUNTDOWN = 15.0


@dataclass(frozen=True, slots=True)
class SoakJob:
    job: Job
    kind: str
    countdown: float | None = None
    seconds: float | None = None  # slow jobs: how long the task pauses before the agent
    queue: str | None = None  # a queue only one host reads (the partition's pinned jobs)

    @property
    def expected(self) -> tuple[str, int]:
        return EXPECTED[self.kind]


def plan(n: int, seed: int) -> list[SoakJob]:
    rng = random.Random(seed)
    jobs = [SoakJob(j, j.kind) for j in plan_batch(n)]
    for i, sj in enumerate(jobs):
        if sj.kind != "ok":
            continue
        roll = rng.random()
        if roll < REVOKED_SHARE:
            jobs[i] = replace(sj, kind="revoked", countdown=REVOKED_COUNTDOWN)
        elif roll < REVOKED_SHARE + COUNTDOWN_SHARE:
            jobs[i] = replace(sj, kind="countdown", countdown=round(rng.uniform(1, 20), 1))
        elif roll < REVOKED_SHARE + COUNTDOWN_SHARE + SLOW_SHARE:
            jobs[i] = replace(sj, kind="slow", seconds=round(rng.uniform(1, 4), 1))
    rng.shuffle(jobs)
    return jobs


def pinned(n: int, seconds: float, queue: str) -> list[SoakJob]:
    """``n`` slow jobs for the one host that reads ``queue``: the partition cuts that host
    off while it runs them, so they finish there during the cut (their events spool) and
    run again elsewhere once the visibility timeout brings their messages back."""
    ok = [j for j in plan_batch(8 * n) if j.kind == "ok"][:n]
    return [SoakJob(j, "slow", seconds=seconds, queue=queue) for j in ok]


def as_dict(sj: SoakJob) -> dict[str, Any]:
    return {
        "kind": sj.kind,
        "agent_type": sj.job.agent_type,
        "task_type": sj.job.task_type,
        "input_data": sj.job.input_data,
        "fail_attempts": sj.job.fail_attempts,
        "countdown": sj.countdown,
        "seconds": sj.seconds,
        "queue": sj.queue,
    }
