"""End to end: real tasks on a real worker, `agentq realtime` as its own process, soketi,
and a websocket subscriber that sees every execution move — and Pusher going away mid-run
never touches the tasks.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
import redis

from tasks.registry import get_spec
from tests.e2e.conftest import send_test_task
from tests.support.bridge import BridgeProcess
from tests.support.database import reset_recording
from tests.support.soketi import SoketiServer, Subscriber, sign_with_app_secret
from tests.support.workers import WorkerProcess, wait_for
from workers.producer import enqueue, get_execution

RANK = {"pending": 0, "queued": 1, "running": 2, "retrying": 3}  # terminal: 4
# Deadlines for what a busy machine (the whole suite, two cores) may slow down: each
# wait ends as soon as its event is seen, so a generous one costs nothing when all is well.
START_S = 120.0  # a process (worker, bridge, soketi) to be up
EVENT_S = 120.0  # tasks to run, events to arrive, the breaker to change state


@pytest.fixture(scope="module")
def system(
    database_url: str, redis_client: redis.Redis, soketi: SoketiServer
) -> Iterator[tuple[WorkerProcess, BridgeProcess]]:
    """A prefork worker and the bridge, on empty tables and an empty Redis DB."""
    reset_recording(database_url, redis_client)
    bridge = BridgeProcess(
        {
            **soketi.env,
            "AGENTQ_REALTIME_BREAKER_FAILURES": "3",
            "AGENTQ_REALTIME_BREAKER_RESET_SECONDS": "1",
            "AGENTQ_REALTIME_PUSHER_TIMEOUT": "1",
        }
    ).start()
    worker = WorkerProcess("realtime", concurrency=2).start(timeout=START_S)
    try:
        yield worker, bridge
    finally:
        worker.stop()
        bridge.stop()
        print(bridge.output()[-3000:])


def statuses(sub: Subscriber, task_id: str, channel: str = "agentq-executions") -> list[str]:
    return [
        e["data"]["status"]
        for e in sub.received(lambda e: e["channel"] == channel)
        if e["data"].get("task_id") == task_id
    ]


def test_a_tasks_updates_reach_the_subscriber_in_order(
    system: tuple[WorkerProcess, BridgeProcess], soketi: SoketiServer
) -> None:
    worker, _ = system
    user = str(uuid.uuid4())
    spec = get_spec("quiz_generator")
    mine = f"private-agentq-user-{user}"
    channels = ["agentq-executions", "agentq-agents", mine]
    with Subscriber(soketi.ws_url, channels, auth=sign_with_app_secret) as sub:
        task_id = enqueue("quiz_generator", spec.example_task_type, spec.example, user_id=user)
        wait_for(lambda: "completed" in statuses(sub, task_id), EVENT_S, what="completed event")
        wait_for(
            lambda: "completed" in statuses(sub, task_id, mine),
            EVENT_S,
            what="the user's channel",
        )
        agent_id = f"quiz_generator@{worker.hostname}"
        wait_for(
            lambda: any(
                e["data"]["agent_id"] == agent_id and e["data"]["total_tasks_completed"] >= 1
                for e in sub.received(lambda e: e["channel"] == "agentq-agents")
            ),
            EVENT_S,
            what="the agent instance's update",
        )
    seen = statuses(sub, task_id)
    # Updates inside one batch window may be coalesced, never reordered.
    ranks = [RANK.get(s, 4) for s in seen]
    assert ranks == sorted(ranks), seen
    assert seen[-1] == "completed" and seen.count("completed") <= 2
    last = next(
        e["data"]
        for e in reversed(sub.received(lambda e: e["channel"] == "agentq-executions"))
        if e["data"]["task_id"] == task_id
    )
    assert last["user_id"] == user and last["worker"] == worker.hostname
    assert last["quality_score"] == get_execution(task_id)["quality_score"]  # type: ignore[index]


@pytest.mark.slow
def test_pusher_outage_never_touches_tasks_and_the_bridge_recovers(
    system: tuple[WorkerProcess, BridgeProcess], soketi: SoketiServer
) -> None:
    _, bridge = system
    soketi.stop()
    try:
        ids = [send_test_task("noop", {"i": i}) for i in range(20)]
        # Every task completes while Pusher is gone.
        wait_for(
            lambda: all((get_execution(t) or {}).get("status") == "completed" for t in ids),
            EVENT_S,
            what="all tasks to complete",
        )
        down = wait_for(
            lambda: (
                (s := bridge.status()).get("breaker", {}).get("state") == "open"
                and s["dropped"] > 0
                and s
            ),
            EVENT_S,
            what="the breaker to open",
        )
        assert down["api_errors"] >= 3 and "pusher" in down["last_error"]
    except BaseException:
        soketi.start(timeout=START_S)  # for the tests after this one
        raise
    with contextlib.ExitStack() as stack:
        # Pusher comes back while the bridge stands still. Running, it probes every
        # second and resends the dropped rows as soon as a probe gets through: on a busy
        # machine that came before this process had subscribed, and nobody saw them.
        with bridge.paused():
            soketi.start(timeout=START_S)
            sub = stack.enter_context(Subscriber(soketi.ws_url, ["agentq-executions"]))
        # The bridge probes by itself, closes the breaker and sends the dropped rows again.
        wait_for(lambda: all("completed" in statuses(sub, t) for t in ids), EVENT_S, what="resync")
        up = wait_for(
            lambda: (
                (s := bridge.status()).get("breaker", {}).get("state") == "closed"
                and s["pending"] == 0
                and s
            ),
            EVENT_S,
            what="the breaker to close",
        )
    assert up["breaker"]["opened"] >= 1
    assert up["events"] == up["forwarded"] + up["dropped"]
    assert up["resynced"] >= len(ids)
    assert up["received"] + up["resynced"] == up["coalesced"] + up["filtered"] + up["published"]
