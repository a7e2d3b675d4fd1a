"""The page's layout in real headless Chromium (issue 25, item 3), on a real worker and
``agentq serve``: a click on an execution far down the list shows its timeline in the
viewport; instances of earlier runs (offline) fold into one row; worker names stay on one
line. The agents panel is made tall (16 offline instances with long worker names, as after
a few demos) and the executions list long, as a new user's page gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from tests.e2e.conftest import send_test_task
from tests.support.database import reset_recording
from tests.support.page import ConsoleWatch, ServeProcess, chromium
from tests.support.served import JWT_SECRET, token
from tests.support.workers import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SEEN_MS = 120_000
VIEWPORT = {"width": 1400, "height": 900}
N_OFFLINE = 16
N_TASKS = 40
LONG_WORKER = "demo-{i:02d}a1b2c3@a-rather-long-hostname.build-agents.example.internal"
AGENT_TYPES = ("content_generator", "quiz_generator", "terrain_generator", "code_reviewer")


@pytest.fixture(scope="module")
def served(database_url: str, redis_client: redis.Redis) -> Iterator[ServeProcess]:
    reset_recording(database_url, redis_client)
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for i in range(N_OFFLINE):
            agent_type = AGENT_TYPES[i % len(AGENT_TYPES)]
            worker = LONG_WORKER.format(i=i)
            conn.execute(
                "INSERT INTO agent_instances (agent_id, agent_type, status, worker,"
                " last_heartbeat) VALUES (%s, %s, 'offline', %s, now() - interval '2 hours')",
                (f"{agent_type}@{worker}", agent_type, worker),
            )
    worker = WorkerProcess("layout", concurrency=2).start(timeout=120)
    server = ServeProcess({"SUPABASE_JWT_SECRET": JWT_SECRET}).start(timeout=120)
    try:
        yield server
    finally:
        server.stop()
        worker.stop()


def _one_line(page: Any, selector: str) -> list[str]:
    """Texts of ``selector`` (visible ones) that the browser laid out on more than one line."""
    return list(
        page.evaluate(
            """(selector) => [...document.querySelectorAll(selector)]
              .filter((el) => el.offsetParent !== null)
              .filter((el) => {
                const range = document.createRange();
                range.selectNodeContents(el);
                const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
                return tops.size > 1;
              })
              .map((el) => el.textContent)""",
            selector,
        )
    )


def test_timeline_in_view_offline_folded_workers_on_one_line(served: ServeProcess) -> None:
    from playwright.sync_api import expect

    ids = [send_test_task("noop") for _ in range(N_TASKS)]
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        watch = ConsoleWatch(page)
        page.goto(f"{served.base}/#token={token()}")
        rows = page.locator("#executions tbody tr")
        expect(rows).to_have_count(N_TASKS, timeout=SEEN_MS)
        expect(page.locator(f'#executions tr[data-task-id="{ids[0]}"]')).to_have_attribute(
            "data-status", "completed", timeout=SEEN_MS
        )

        # Offline instances: one row saying how many, theirs hidden until it is opened.
        toggle = page.locator("#agents tr.offline-toggle button")
        expect(toggle).to_have_text(f"▸ {N_OFFLINE} offline instances", timeout=SEEN_MS)
        offline = page.locator("#agents tbody tr.offline")
        expect(offline).to_have_count(N_OFFLINE)
        for i in range(N_OFFLINE):
            expect(offline.nth(i)).to_be_hidden()
        expect(page.locator('#agents tbody tr[data-status="idle"]').first).to_be_visible(
            timeout=SEEN_MS
        )
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        for i in range(N_OFFLINE):
            expect(offline.nth(i)).to_be_visible()

        # Worker names on one line: the instances' (the long ones) and the executions'.
        assert _one_line(page, "#agents .sub.worker") == []
        assert _one_line(page, "#executions td.worker") == []

        # The oldest execution, at the bottom of the list: its timeline where the eye is.
        last = rows.nth(N_TASKS - 1)
        last.scroll_into_view_if_needed()
        last.click()
        timeline = page.locator("#timeline")
        expect(page.locator("#timeline-task")).to_have_text(
            last.get_attribute("data-task-id") or "", timeout=SEEN_MS
        )
        box = timeline.bounding_box()  # relative to the viewport
        assert box is not None
        height = VIEWPORT["height"]
        assert box["y"] >= 0 and box["y"] + min(box["height"], 200) <= height, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], box
        expect(timeline.locator("tbody tr.event").first).to_be_in_viewport()
        assert watch.errors == []
        page.close()
