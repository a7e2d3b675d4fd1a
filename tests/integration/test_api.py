"""The operations page's JSON API on a real ``agentq serve`` subprocess and the session's
PostgreSQL: who gets in (tokens), what comes out (pages, filters, one execution with its
history, agents, metrics), and paging while rows are being inserted."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from persistence.lifecycle import TaskStatus, Transition
from persistence.metrics import store_agent_metrics
from persistence.sql_store import SQLStore
from tests.support.database import libpq_url
from tests.support.served import JWT_SECRET, Served, token
from tests.support.workers import ROOT, wait_for

PROTECTED = [
    "/api/v1/executions",
    "/api/v1/executions/some-task",
    "/api/v1/agents",
    "/api/v1/metrics",
]


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[Served]:
    server = Served({"SUPABASE_JWT_SECRET": JWT_SECRET})
    yield server
    server.stop()


def insert(conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO agent_executions (task_id, agent_type, task_type, status, user_id,"
            " created_at) VALUES (%(task_id)s, %(agent_type)s, 'quiz', %(status)s,"
            " %(user_id)s, %(created_at)s)",
            [
                {"agent_type": "quiz_generator", "status": "queued", "user_id": None, **r}
                for r in rows
            ],
        )


# --- who gets in ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make_bearer", "message"),
    [
        # minted when the test runs, not at collection: the suite runs this file long
        # after it collects it, past a collected token's ten minutes
        (lambda: None, "missing Authorization header"),
        (lambda: "not-a-jwt", "token invalid"),
        (lambda: token(role="anon"), "token role 'anon' may not read this"),
        (
            lambda: token(secret="another-projects-secret-0123456789abcdef"),
            "token signature invalid",
        ),
        (lambda: token(ttl_s=-5), "token expired"),
        (lambda: token(sub=None), "token has no 'sub' claim"),
    ],
    ids=["none", "garbage", "anon", "wrong-signature", "expired", "no-sub"],
)
def test_protected_endpoints_refuse_with_401_and_no_data(
    clean: str, served: Served, make_bearer: Callable[[], str | None], message: str
) -> None:
    bearer = make_bearer()
    with psycopg.connect(libpq_url(clean), autocommit=True) as conn:
        insert(conn, [{"task_id": "some-task", "created_at": datetime.now(UTC)}])
    for path in PROTECTED:
        code, body = served.request(path, bearer=bearer)
        assert code == 401, (path, body)
        assert list(body) == ["error"] and body["error"].startswith(message), (path, body)
    code, body = served.request(
        "/pusher/auth", bearer=bearer, form={"socket_id": "1.2", "channel_name": "x"}
    )
    assert code == 401 and list(body) == ["error"] and body["error"].startswith(message)


def test_a_token_without_exp_and_other_schemes_are_refused(clean: str, served: Served) -> None:
    import jwt

    forever = jwt.encode({"role": "authenticated", "sub": "a"}, JWT_SECRET, algorithm="HS256")
    assert served.request("/api/v1/agents", bearer=forever) == (
        401,
        {"error": "token has no 'exp' claim"},
    )
    code, body = served.request("/api/v1/agents", headers={"Authorization": "Basic YTpi"})
    assert code == 401 and body == {"error": "Authorization header is not 'Bearer <JWT>'"}


def test_authenticated_and_service_role_tokens_are_let_in(clean: str, served: Served) -> None:
    assert served.request("/api/v1/agents", bearer=token()) == (200, {"agents": []})
    service = token(sub=None, role="service_role")
    assert served.request("/api/v1/agents", bearer=service) == (200, {"agents": []})


def test_without_the_secret_protected_endpoints_say_it_is_not_configured(
    clean: str,
) -> None:
    server = Served({})
    try:
        for path in PROTECTED:
            code, body = server.request(path, bearer=token())
            assert code == 503 and body == {
                "error": "SUPABASE_JWT_SECRET is not configured: this server cannot verify tokens"
            }, (path, body)
        code, body = server.request("/api/v1/realtime")  # open endpoints still answer
        assert code == 200 and body["enabled"] is False
    finally:
        server.stop()


def test_agentq_token_makes_a_token_the_server_accepts(clean: str, served: Served) -> None:
    env = {"SUPABASE_JWT_SECRET": JWT_SECRET, "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-m", "workers.cli", "token", "--sub", "dev-user", "--ttl", "60"],
        cwd=ROOT,
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert "development" in res.stderr
    assert served.request("/api/v1/agents", bearer=res.stdout.strip()) == (200, {"agents": []})
    anon = subprocess.run(
        [sys.executable, "-m", "workers.cli", "token", "--role", "anon"],
        cwd=ROOT,
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    code, _ = served.request("/api/v1/agents", bearer=anon.stdout.strip())
    assert anon.returncode == 0 and code == 401


# --- filters --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("status=done", "status"),
        ("agent_type=poet", "agent_type"),
        ("user_id=42", "user_id"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("before=xyz", "before"),
        ("colour=red", "'colour'"),
        ("status=queued&status=failed", "'status'"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(
    clean: str, served: Served, query: str, named: str
) -> None:
    code, body = served.request(f"/api/v1/executions?{query}", bearer=token())
    assert code == 400 and list(body) == ["error"], body
    assert body["error"].startswith(named) or named in body["error"], body


@pytest.mark.parametrize(
    ("query", "named"),
    [("hours=0", "hours"), ("hours=abc", "hours"), ("hours=nan", "hours"),
     ("agent_id=nobody", "agent_id"), ("agent_id=poet@w1", "agent_id")],
)  # fmt: skip
def test_bad_metrics_parameters_are_400(clean: str, served: Served, query: str, named: str) -> None:
    code, body = served.request(f"/api/v1/metrics?{query}", bearer=token())
    assert code == 400 and body["error"].startswith(named), body


def test_filters_select_exact_matches(clean: str, served: Served) -> None:
    user = str(uuid.uuid4())
    now = datetime.now(UTC)
    with psycopg.connect(libpq_url(clean), autocommit=True) as conn:
        insert(
            conn,
            [
                {"task_id": "a", "created_at": now, "status": "failed"},
                {"task_id": "b", "created_at": now, "user_id": user},
                {"task_id": "c", "created_at": now, "agent_type": "content_generator"},
            ],
        )

    def ids(query: str) -> list[str]:
        code, body = served.request(f"/api/v1/executions?{query}", bearer=token())
        assert code == 200, body
        return [r["task_id"] for r in body["executions"]]

    assert ids("") == ["c", "b", "a"]  # same created_at: task_id descending
    assert ids("status=failed") == ["a"]
    assert ids(f"user_id={user}") == ["b"]
    assert ids("agent_type=content_generator") == ["c"]
    assert ids("status=&agent_type=&user_id=&before=") == ["c", "b", "a"]  # empty: not given
    assert ids("status=running") == []


# --- one execution, agents, metrics ----------------------------------------------------
def _transition(task_id: str, status: TaskStatus, at: datetime, **kw: Any) -> Transition:
    return Transition(
        event_id=uuid.uuid4(),
        task_id=task_id,
        status=status,
        attempt=0,
        occurred_at=at,
        agent_type="quiz_generator",
        task_type="quiz",
        **kw,
    )


def test_one_execution_with_its_history_and_404(clean: str, served: Served) -> None:
    store = SQLStore(clean, pool_size=1)
    at = datetime.now(UTC) - timedelta(seconds=5)
    task = f"t/{uuid.uuid4()}"  # a "/" in the id travels percent-encoded
    try:
        store.record(
            [
                _transition(task, TaskStatus.PENDING, at, request={"input_data": {"q": 1}}),
                _transition(task, TaskStatus.RUNNING, at + timedelta(seconds=1), worker="w1"),
                _transition(
                    task,
                    TaskStatus.FAILED,
                    at + timedelta(seconds=2),
                    worker="w1",
                    result={"error_message": "boom", "error_type": "ValueError"},
                ),
            ]
        )
    finally:
        store.close()
    path = "/api/v1/executions/" + task.replace("/", "%2F")
    code, body = served.request(path, bearer=token())
    assert code == 200, body
    assert body["task_id"] == task and body["status"] == "failed"
    assert body["error_message"] == "boom" and body["worker"] == "w1"
    assert [h["status"] for h in body["history"]] == ["pending", "running", "failed"]
    assert body["history"][2]["worker"] == "w1"
    assert body["history"][2]["detail"]["error_message"] == "boom"
    code, body = served.request("/api/v1/executions/no-such-task", bearer=token())
    assert code == 404 and body == {"error": "no execution with task_id 'no-such-task'"}


def test_agents_and_metrics_oldest_first(clean: str, served: Served) -> None:
    store = SQLStore(clean, pool_size=1)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        store.set_instances_status("w1", ["quiz_generator", "content_generator"], "idle", now)
        for minutes in (10, 5):
            store_agent_metrics(
                store,
                {
                    "agent_id": "quiz_generator@w1",
                    "period_start": now - timedelta(minutes=minutes),
                    "period_end": now - timedelta(minutes=minutes - 5),
                    "total_tasks": minutes,
                },
            )
    finally:
        store.close()
    code, body = served.request("/api/v1/agents", bearer=token())
    assert code == 200
    agents = {a["agent_id"]: a for a in body["agents"]}
    assert set(agents) == {"quiz_generator@w1", "content_generator@w1"}
    quiz = agents["quiz_generator@w1"]
    assert quiz["status"] == "idle" and quiz["worker"] == "w1" and quiz["online"] is True
    assert quiz["heartbeat_age_seconds"] >= 0 and quiz["total_tasks_completed"] == 0
    assert set(quiz) >= {
        "id", "agent_type", "current_task_id", "last_heartbeat", "last_activity",
        "total_tasks_failed",
    }  # fmt: skip
    code, body = served.request(
        "/api/v1/metrics?agent_id=quiz_generator@w1&hours=1", bearer=token()
    )
    assert code == 200
    assert [m["total_tasks"] for m in body["metrics"]] == [10, 5]  # oldest first
    code, body = served.request("/api/v1/metrics?agent_id=content_generator@w1", bearer=token())
    assert code == 200 and body["metrics"] == []


def test_open_endpoints(clean: str, served: Served) -> None:
    code, body = served.request("/api/v1/realtime")
    assert code == 200
    assert body == {
        "enabled": False, "key": None, "host": None, "port": None, "tls": True,
        "cluster": None, "prefix": "agentq", "public_channels": True,
        "private_user_channels": True, "auth_endpoint": "/pusher/auth",
    }  # fmt: skip
    code, health = served.request("/api/v1/health")
    assert code == 200 and health["status"] in ("healthy", "degraded", "unhealthy")
    assert set(health) >= {"status", "reasons", "components"}
    cli = subprocess.run(
        [sys.executable, "-m", "workers.cli", "health", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(cli.stdout)
    assert (report["status"], report["reasons"]) == (health["status"], health["reasons"])


# --- paging while rows are inserted ------------------------------------------------------
def test_pages_are_stable_under_concurrent_inserts(clean: str, served: Served) -> None:
    """A thread inserts rows — new ones, and back-dated ones in the middle of the range —
    while the pages are read: no row comes twice, every row that existed below the first
    page comes exactly once, and the order is strictly newest first."""
    base = datetime.now(UTC) - timedelta(hours=1)
    # 3 rows per timestamp: pages end in the middle of ties (task_id breaks them).
    existing = [
        {"task_id": f"old-{i:04d}", "created_at": base + timedelta(seconds=i // 3)}
        for i in range(300)
    ]
    url = libpq_url(clean)
    with psycopg.connect(url, autocommit=True) as conn:
        insert(conn, existing)
    inserted = [0]
    stop = threading.Event()
    # One round of inserts per page read: rows land between two reads, while the reader
    # works, and the back-dated ones can never outrun the pages (the loop ends).
    turn = threading.Event()
    failure: list[BaseException] = []

    def inserter() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                while not stop.is_set():
                    if not turn.wait(0.5):
                        continue
                    turn.clear()
                    n = inserted[0]
                    back = base + timedelta(seconds=(n * 7) % 100, microseconds=500)
                    insert(
                        conn,
                        [
                            {"task_id": f"new-{n:05d}", "created_at": datetime.now(UTC)},
                            {"task_id": f"mid-{n:05d}", "created_at": back},
                        ],
                    )
                    inserted[0] = n + 1
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=inserter, daemon=True)
    thread.start()
    seen: list[dict[str, Any]] = []
    pages = 0
    try:
        cursor: str | None = None
        for _ in range(200):  # 300 rows and at most one new older row per page: ~15 pages
            before = inserted[0]  # one insert between two page reads
            turn.set()
            wait_for(lambda b=before: inserted[0] > b or bool(failure), what="an insert")
            query = "limit=25" + (f"&before={cursor}" if cursor else "")
            code, body = served.request(f"/api/v1/executions?{query}", bearer=token())
            assert code == 200, body
            seen.extend(body["executions"])
            pages += 1
            cursor = body["next_before"]
            if cursor is None:
                break
        else:
            pytest.fail(f"paging did not end after {pages} pages")
    finally:
        stop.set()
        thread.join(30)
    assert not failure, failure
    ids = [r["task_id"] for r in seen]
    assert len(ids) == len(set(ids)), "a row came twice"
    keys = [(datetime.fromisoformat(r["created_at"]), r["task_id"]) for r in seen]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    first_page_floor = keys[24]
    below = {e["task_id"] for e in existing if (e["created_at"], e["task_id"]) < first_page_floor}
    assert below <= set(ids), "rows that existed below the first page were skipped"
    assert pages >= 300 // 25 and inserted[0] >= pages  # inserts really ran in between
