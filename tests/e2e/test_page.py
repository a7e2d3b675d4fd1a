"""The live operations page in real headless Chromium: soketi, a real Celery worker, the
`agentq realtime` bridge and `agentq serve`, all as their own processes.

Tasks enqueued while the page is open appear and move to their final status without a
reload, from Pusher events (the rows say where their state came from); a task's timeline
opens on click; the agents, health and metrics panels show what the API says; without
Pusher configured the page polls and says so; a refused token brings the login back
with the server's message. Any console error or uncaught exception fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from persistence.metrics import aggregate_metrics
from persistence.sql_store import SQLStore
from tasks.registry import get_spec
from tests.e2e.conftest import send_test_task
from tests.support.bridge import BridgeProcess
from tests.support.database import reset_recording
from tests.support.page import ConsoleWatch, ServeProcess, chromium, distinct_colours
from tests.support.served import JWT_SECRET, token
from tests.support.soketi import SoketiServer
from tests.support.workers import ROOT, WorkerProcess, wait_for
from workers.producer import enqueue
from workers.tracing import setup as tracing

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Generous deadlines: each wait ends as soon as what it waits for is on the page.
START_S = 120.0
SEEN_MS = 120_000
SCREENSHOT = ROOT / "docs" / "images" / "page.png"
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def fleet(
    database_url: str, redis_client: redis.Redis, soketi: SoketiServer, browser: Any
) -> Iterator[WorkerProcess]:
    """A prefork worker and the bridge, on empty tables and an empty Redis DB."""
    reset_recording(database_url, redis_client)
    bridge = BridgeProcess(soketi.env).start()
    worker = WorkerProcess("page", concurrency=2).start(timeout=START_S)
    try:
        yield worker
    finally:
        worker.stop()
        bridge.stop()


def _serve(env: dict[str, str]) -> Iterator[ServeProcess]:
    served = ServeProcess({"SUPABASE_JWT_SECRET": JWT_SECRET, **env}).start(timeout=START_S)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def live_server(fleet: WorkerProcess, soketi: SoketiServer) -> Iterator[ServeProcess]:
    """``agentq serve`` with Pusher configured: the page subscribes."""
    yield from _serve(soketi.env)


@pytest.fixture(scope="module")
def polling_server(fleet: WorkerProcess) -> Iterator[ServeProcess]:
    """``agentq serve`` without ``PUSHER_*``: the page polls."""
    yield from _serve({})


def _open(browser: Any, url: str) -> tuple[Any, ConsoleWatch]:
    page = browser.new_page(viewport=VIEWPORT)
    watch = ConsoleWatch(page)
    page.goto(url)
    # Set once; a reload would lose it.
    page.evaluate("window.agentqLoadedOnce = true")
    return page, watch


def _row(page: Any, task_id: str) -> Any:
    return page.locator(f'#executions tr[data-task-id="{task_id}"]')


def _traced(publish: Callable[[], str]) -> tuple[str, str]:
    """``publish()`` with tracing on in this process: the task id and its trace id."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.install(provider)
    try:
        task_id = publish()
    finally:
        tracing.uninstall()
    (span,) = memory.get_finished_spans()
    assert span.context is not None
    return task_id, format(span.context.trace_id, "032x")


def test_tasks_appear_and_finish_live_over_pusher(
    browser: Any, live_server: ServeProcess, fleet: WorkerProcess, database_url: str
) -> None:
    from playwright.sync_api import expect

    user = str(uuid.uuid4())
    page, watch = _open(browser, f"{live_server.base}/#token={token(sub=user)}")
    assert "token=" not in page.url  # taken from the address bar
    live = page.locator("#live")
    expect(live).to_have_attribute("data-mode", "pusher", timeout=SEEN_MS)
    # Every channel, the user's private one too (signed by /pusher/auth), then one reload.
    expect(live).to_have_attribute("data-synced", "1", timeout=SEEN_MS)
    channels = live.get_attribute("data-channels") or ""
    assert f"private-agentq-user-{user}" in channels.split(), channels
    assert {"agentq-executions", "agentq-agents", "agentq-metrics"} <= set(channels.split())

    spec = get_spec("quiz_generator")
    ok, trace_id = _traced(
        lambda: enqueue("quiz_generator", spec.example_task_type, spec.example, user_id=user)
    )
    bad = send_test_task("boom")

    expect(_row(page, ok)).to_have_attribute("data-status", "completed", timeout=SEEN_MS)
    expect(_row(page, bad)).to_have_attribute("data-status", "failed", timeout=SEEN_MS)
    for task_id in (ok, bad):
        # The final state came in an event's payload, not from a reload of the list.
        assert _row(page, task_id).get_attribute("data-source") == "pusher"
    expect(_row(page, bad).locator(".error")).to_contain_text("boom: the handler failed")
    cells = _row(page, ok).locator("td").all_inner_texts()
    assert cells[1:4] == ["quiz_generator", spec.example_task_type, "completed"], cells
    assert cells[5] == fleet.hostname and re.fullmatch(r"[\d.]+ m?s", cells[6]), cells
    assert page.evaluate("window.agentqLoadedOnce") is True  # never reloaded

    # The failed task's timeline, on click.
    _row(page, bad).click()
    timeline = page.locator("#timeline")
    expect(timeline).to_be_visible()
    expect(page.locator("#timeline-task")).to_have_text(bad)
    events = timeline.locator("tbody tr.event")
    expect(events.filter(has_text="failed")).to_have_count(1, timeout=SEEN_MS)
    statuses = [s.strip() for s in events.locator("td:nth-child(2)").all_inner_texts()]
    assert set(statuses) == {"pending", "queued", "running", "failed"}, statuses
    failed = events.filter(has_text="failed")
    expect(failed).to_contain_text(fleet.hostname)
    expect(failed).to_contain_text("boom: the handler failed")
    expect(timeline.locator('dd[data-field="error"]')).to_contain_text("RuntimeError: boom")
    expect(timeline.locator('dd[data-field="trace"]')).to_have_text("\u2013")  # untraced: a dash

    # The completed one: its quality score and output summary.
    _row(page, ok).click()
    expect(page.locator("#timeline-task")).to_have_text(ok)
    expect(timeline.locator('dd[data-field="status"]')).to_have_text("completed")
    score = timeline.locator('dd[data-field="quality score"]').inner_text()
    assert re.fullmatch(r"0?\.\d+|1|0", score), score
    expect(timeline.locator('dd[data-field="output"]')).to_contain_text("{")  # JSON
    expect(timeline.locator('dd[data-field="trace"]')).to_have_text(trace_id)  # its trace

    # Agents: the worker's content and quiz instances with their totals.
    agents = page.locator("#agents tbody tr")
    quiz = page.locator(f'#agents tr[data-agent-id="quiz_generator@{fleet.hostname}"]')
    expect(quiz.locator("td:nth-child(5)")).to_have_text(re.compile(r"[1-9]\d*"), timeout=SEEN_MS)
    content = page.locator(f'#agents tr[data-agent-id="content_generator@{fleet.hostname}"]')
    expect(content.locator("td:nth-child(6)")).to_have_text(
        re.compile(r"[1-9]\d*"), timeout=SEEN_MS
    )
    expect(content.locator("td:nth-child(3)")).to_have_text(re.compile(r"\d+ s ago"))

    # Health: the banner says what the API says.
    health = page.locator("#health")
    expect(health).to_have_attribute("data-status", re.compile("healthy|degraded|unhealthy"))
    status = health.get_attribute("data-status")
    expect(page.locator("#health-status")).to_have_text(f"system {status}")

    # A few more agents at work (for the picture too).
    more = [
        enqueue(t, get_spec(t).example_task_type, get_spec(t).example, user_id=user)
        for t in ("content_generator", "terrain_generator", "code_reviewer", "roblox_analytics")
    ]
    for task_id in more:
        expect(_row(page, task_id)).to_have_attribute("data-status", "completed", timeout=SEEN_MS)
    expect(agents).to_have_count(8)
    # Metrics: beat's aggregation (run here, closing the current minute) reaches the
    # charts as metrics.updated events.
    store = SQLStore(database_url, pool_size=1)
    try:
        aggregate_metrics(store, period_minutes=1, now=datetime.now(UTC) + timedelta(minutes=2))
    finally:
        store.close()
    content_chart = page.locator('#charts figure[data-agent-type="content_generator"]')
    expect(content_chart.locator("svg rect.failed")).not_to_have_count(0, timeout=SEEN_MS)
    # Summed over the periods the charts show (the tasks may straddle a minute).
    for agent_type, totals in (("content_generator", (1, 1)), ("quiz_generator", (1, 0))):
        wait_for(
            lambda t=agent_type, n=totals: _chart_totals(page, t) == n,
            SEEN_MS / 1000,
            what=f"the {agent_type} chart to show {totals} completed / failed",
        )
    expect(content_chart.locator("figcaption")).to_contain_text(" failed, p95 ")

    _row(page, bad).click()
    expect(page.locator("#timeline-task")).to_have_text(bad)
    _screenshot(page)
    assert watch.errors == []
    page.close()


def _chart_totals(page: Any, agent_type: str) -> tuple[int, int]:
    """Completed and failed tasks over every period an agent type's chart shows."""
    figure = page.locator(f'#charts figure[data-agent-type="{agent_type}"]')
    titles = figure.locator("svg g title").all_text_contents()
    counts = [re.search(r"(\d+) completed, (\d+) failed", t) for t in titles]
    assert all(counts), titles
    return sum(int(c[1]) for c in counts if c), sum(int(c[2]) for c in counts if c)


def _screenshot(page: Any) -> None:
    """The page as it is, checked not blank; written to docs/images/page.png when that is
    missing or AGENTQ_TEST_UPDATE_SCREENSHOTS=1 (so a test run does not dirty the checkout;
    the suite clears every other AGENTQ_ variable, tests/conftest.py)."""
    shot = Path(tempfile.mkdtemp(prefix="agentq-page-")) / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert distinct_colours(shot) > 40, "the screenshot looks blank"
    if not SCREENSHOT.exists() or os.environ.get("AGENTQ_TEST_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def test_without_pusher_the_page_polls_and_says_so(
    browser: Any, polling_server: ServeProcess, fleet: WorkerProcess
) -> None:
    from playwright.sync_api import expect

    page, watch = _open(browser, f"{polling_server.base}/#token={token()}")
    live = page.locator("#live")
    expect(live).to_have_attribute("data-mode", "polling", timeout=SEEN_MS)
    expect(live).to_contain_text("Pusher is not configured")
    ok = send_test_task("noop")
    bad = send_test_task("boom")
    expect(_row(page, ok)).to_have_attribute("data-status", "completed", timeout=SEEN_MS)
    expect(_row(page, bad)).to_have_attribute("data-status", "failed", timeout=SEEN_MS)
    assert _row(page, ok).get_attribute("data-source") == "api"
    expect(_row(page, bad).locator(".error")).to_contain_text("boom")
    # The filters ask the API: only failed executions, the completed one gone.
    page.select_option("#filter-status", "failed")
    expect(_row(page, ok)).to_have_count(0, timeout=SEEN_MS)
    expect(_row(page, bad)).to_have_count(1)
    page.select_option("#filter-agent-type", "quiz_generator")  # failed quizzes: none here
    expect(_row(page, bad)).to_have_count(0, timeout=SEEN_MS)
    page.select_option("#filter-status", "")
    page.select_option("#filter-agent-type", "content_generator")
    expect(_row(page, ok)).to_have_count(1, timeout=SEEN_MS)
    types = page.locator("#executions tbody tr td:nth-child(2)").all_inner_texts()
    assert set(types) == {"content_generator"}, types
    assert page.evaluate("window.agentqLoadedOnce") is True
    assert watch.errors == []
    page.close()


def test_a_refused_token_shows_the_login_with_the_servers_message(
    browser: Any, polling_server: ServeProcess
) -> None:
    from playwright.sync_api import expect

    expired = token(ttl_s=-60)
    page, watch = _open(browser, f"{polling_server.base}/#token={expired}")
    expect(page.locator("#login")).to_be_visible(timeout=SEEN_MS)
    message = page.locator("#login-message")
    expect(message).not_to_have_text("")
    assert "expired" in message.inner_text().lower(), message.inner_text()
    assert page.evaluate("sessionStorage.getItem('agentq.token')") is None
    # The only console errors are the browser's own notes of the 401 answers.
    assert all("401" in e for e in watch.errors), watch.errors

    page.fill("#login-token", token())
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible(timeout=SEEN_MS)
    expect(page.locator("#live")).to_have_attribute("data-mode", "polling", timeout=SEEN_MS)
    page.close()


def test_pusher_going_away_falls_back_to_polling_and_back(
    browser: Any, live_server: ServeProcess, soketi: SoketiServer
) -> None:
    from playwright.sync_api import expect

    page, watch = _open(browser, f"{live_server.base}/#token={token()}")
    live = page.locator("#live")
    expect(live).to_have_attribute("data-synced", "1", timeout=SEEN_MS)
    soketi.stop()
    try:
        expect(live).to_have_attribute("data-mode", "polling", timeout=SEEN_MS)
        expect(live).to_contain_text("polling the API")
        during = send_test_task("noop")
        expect(_row(page, during)).to_have_attribute("data-status", "completed", timeout=SEEN_MS)
        assert _row(page, during).get_attribute("data-source") == "api"
    finally:
        soketi.start(timeout=START_S)
    # Back: one reload for what the events missed, then events again.
    expect(live).to_have_attribute("data-mode", "pusher", timeout=SEEN_MS)
    expect(live).to_have_attribute("data-synced", "2", timeout=SEEN_MS)
    after = send_test_task("noop")
    expect(_row(page, after)).to_have_attribute("data-status", "completed", timeout=SEEN_MS)
    expect(_row(page, after)).to_have_attribute("data-source", "pusher", timeout=SEEN_MS)
    assert page.evaluate("window.agentqLoadedOnce") is True
    # The browser notes the refused websocket connections; nothing else.
    assert [e for e in watch.errors if "WebSocket connection" not in e] == []
    page.close()


def test_the_reconcile_panel_shows_the_last_pass(
    browser: Any, polling_server: ServeProcess, fleet: WorkerProcess
) -> None:
    from playwright.sync_api import expect

    from workers.reconcile import reconcile_once

    reconcile_once(repair=False, grace_s=300)
    page, watch = _open(browser, f"{polling_server.base}/#token={token()}")
    panel = page.locator("#reconcile")
    expect(panel).to_be_visible(timeout=SEEN_MS)
    expect(panel).to_contain_text(re.compile(r"lost 0 · unrecorded 0 · stuck 0 · expired 0"))
    expect(panel).to_have_attribute("data-lost", "0")
    assert watch.errors == []
    page.close()
