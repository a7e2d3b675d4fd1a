"""Private per-user channels end to end: ``agentq serve``'s ``POST /pusher/auth`` signs a
user's own channel only, soketi (a real Pusher-protocol server) refuses an unsigned or
foreign subscription, and the bridge publishes a user's executions on
``private-agentq-user-<id>`` and no longer on the public user channel."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.support.database import libpq_url
from tests.support.served import JWT_SECRET, Served, token
from tests.support.soketi import SoketiServer, Subscriber
from tests.support.workers import wait_for
from workers.realtime import RealtimeIntegrationService
from workers.settings import load_settings

A, B = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module")
def served(database_url: str, soketi: SoketiServer) -> Iterator[Served]:
    server = Served({**soketi.env, "SUPABASE_JWT_SECRET": JWT_SECRET})
    yield server
    server.stop()


@pytest.fixture
def bridge(clean: str, soketi: SoketiServer) -> Iterator[Callable[..., RealtimeIntegrationService]]:
    made: list[RealtimeIntegrationService] = []

    def make(**overrides: Any) -> RealtimeIntegrationService:
        service = RealtimeIntegrationService(
            settings=load_settings(**{**soketi.overrides, **overrides})
        )
        service.start()
        made.append(service)
        return service

    yield make
    for service in made:
        service.stop()


def through_endpoint(served: Served, user: str) -> Callable[[str, str], str | None]:
    """Signs subscriptions the way pusher-js does: POST /pusher/auth with the user's token."""

    def auth(socket_id: str, channel: str) -> str | None:
        code, body = served.request(
            "/pusher/auth",
            bearer=token(sub=user),
            form={"socket_id": socket_id, "channel_name": channel},
        )
        assert code == 200, body
        return str(body["auth"])

    return auth


def test_auth_endpoint_signs_only_the_callers_own_channel(
    served: Served, soketi: SoketiServer
) -> None:
    mine, theirs = f"private-agentq-user-{A}", f"private-agentq-user-{B}"
    code, body = served.request(
        "/pusher/auth", bearer=token(sub=A), form={"socket_id": "123.456", "channel_name": mine}
    )
    assert (
        code == 200
        and set(body) == {"auth"}
        and body["auth"].startswith(soketi.env["PUSHER_KEY"] + ":")
    )
    code, body = served.request(
        "/pusher/auth", bearer=token(sub=A), form={"socket_id": "123.456", "channel_name": theirs}
    )
    assert code == 403 and body == {
        "error": f"channel {theirs!r} is not yours: you may subscribe to {mine!r}"
    }
    for channel in ("agentq-executions", "private-agentq-executions", f"agentq-user-{A}"):
        code, _ = served.request(
            "/pusher/auth", bearer=token(sub=A), form={"socket_id": "1.2", "channel_name": channel}
        )
        assert code == 403, channel
    code, body = served.request("/pusher/auth", form={"socket_id": "1.2", "channel_name": mine})
    assert code == 401 and list(body) == ["error"]
    code, body = served.request(
        "/pusher/auth", bearer=token(sub=A), form={"socket_id": "nope", "channel_name": mine}
    )
    assert code == 400 and body["error"].startswith("socket_id invalid")
    code, body = served.request("/pusher/auth", bearer=token(sub=A), form={"channel_name": mine})
    assert code == 400 and body == {"error": "socket_id is missing"}
    code, body = served.request("/api/v1/realtime")
    assert code == 200 and body["enabled"] is True and body["key"] == soketi.env["PUSHER_KEY"]
    assert body["host"] == "127.0.0.1" and body["port"] == soketi.port and body["tls"] is False
    assert soketi.env["PUSHER_SECRET"] not in str(body)


def test_soketi_refuses_unsigned_and_foreign_subscriptions(
    served: Served, soketi: SoketiServer
) -> None:
    theirs = f"private-agentq-user-{B}"
    with Subscriber(soketi.ws_url, [theirs], strict=False) as unsigned:
        pass
    assert unsigned.subscribed == set() and unsigned.refusals, unsigned.refusals

    # A's signature for A's channel does not open B's: the signature covers the name.
    def a_signature_on_b(socket_id: str, channel: str) -> str | None:
        return through_endpoint(served, A)(socket_id, f"private-agentq-user-{A}")

    with Subscriber(soketi.ws_url, [theirs], auth=a_signature_on_b, strict=False) as forged:
        pass
    assert forged.subscribed == set() and forged.refusals, forged.refusals

    with Subscriber(
        soketi.ws_url, [f"private-agentq-user-{A}"], auth=through_endpoint(served, A)
    ) as own:
        assert own.subscribed == {f"private-agentq-user-{A}"}


def _insert(url: str, user: str) -> str:
    task_id = f"private-{uuid.uuid4()}"
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO agent_executions (task_id, agent_type, task_type, status, user_id)"
            " VALUES (%s, 'quiz_generator', 'quiz', 'queued', %s)",
            (task_id, user),
        )
    return task_id


def test_bridge_publishes_a_users_execution_on_the_private_channel_only(
    clean: str, served: Served, soketi: SoketiServer, bridge: Callable[..., Any]
) -> None:
    service = bridge()
    private, public = f"private-agentq-user-{A}", f"agentq-user-{A}"
    channels = ["agentq-executions", public, private]
    with Subscriber(soketi.ws_url, channels, auth=through_endpoint(served, A)) as sub:
        task_id = _insert(clean, A)
        wait_for(
            lambda: {e["channel"] for e in sub.received()} >= {"agentq-executions", private},
            what="the fleet and the private event",
        )
        status = wait_for(lambda: (s := service.get_status())["forwarded"] >= 2 and s)
    # One row → exactly two events (fleet + private), both delivered; none for the public
    # user channel, which would have gone out in the same Pusher call.
    assert status["events"] == status["forwarded"] == 2 and status["dropped"] == 0
    assert [e["channel"] for e in sub.received(lambda e: e["channel"] == public)] == []
    [event] = sub.received(lambda e: e["channel"] == private)
    assert event["event"] == "execution.updated" and event["data"]["task_id"] == task_id
    assert event["data"]["user_id"] == A


def test_public_channels_can_be_turned_off(
    clean: str, served: Served, soketi: SoketiServer, bridge: Callable[..., Any]
) -> None:
    service = bridge(realtime_public_channels=False)
    private = f"private-agentq-user-{A}"
    channels = ["agentq-executions", private]
    with Subscriber(soketi.ws_url, channels, auth=through_endpoint(served, A)) as sub:
        task_id = _insert(clean, A)
        wait_for(lambda: sub.received(), what="the private event")
        status = wait_for(lambda: (s := service.get_status())["forwarded"] >= 1 and s)
    assert status["events"] == status["forwarded"] == 1
    assert [(e["channel"], e["data"]["task_id"]) for e in sub.received()] == [(private, task_id)]
    assert "no fleet channels" in status["channels"]
