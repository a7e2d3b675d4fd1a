"""One rule for task ids (issue 20, item 9): every place an id comes in asks
``persistence.task_ids``, so an id is refused everywhere or accepted everywhere."""

from __future__ import annotations

import json
import uuid

import pytest

from persistence import task_ids, wire
from tests.support.captured import CAPTURED
from workers.broker import message_check

REFUSED = ["", "a\nb", "a\rb", "tab\there", "nul\x00", "\ud800abc", "x" * 256, 5, None]
ACCEPTED = [str(uuid.uuid4()), "custom-id 1", "ünïcödé-id", "x" * 255]


@pytest.mark.parametrize("value", REFUSED)
def test_the_rule_refuses(value: object) -> None:
    assert task_ids.task_id_problem(value)


@pytest.mark.parametrize("value", ACCEPTED)
def test_the_rule_accepts(value: str) -> None:
    assert task_ids.task_id_problem(value) is None


def _recorder_accepts(value: object) -> bool:
    ev = wire.transition(uuid.uuid4().hex, "x", "queued", 0, 1.8e9, "quiz_generator", "quiz")
    ev["t"] = value
    try:
        wire.decode_entry(json.dumps([ev]))
    except wire.BadEvent:
        return False
    return True


def _schema_accepts(value: object) -> bool:
    env = json.loads(json.dumps(CAPTURED))
    env["headers"]["id"] = value
    try:
        message_check.check_envelope(json.dumps(env).encode(), 1 << 20)
    except message_check.Refused:
        return False
    return True


def _api_accepts(value: str) -> bool:
    from workers.serve import api

    class _Store:
        def get_execution(self, task_id: str) -> None:
            return None

    class _Server:
        store = _Store()

    try:
        code, _ = api._execution(_Server(), {}, value)
    except api.BadRequest:
        return False
    return code == 404


def _enqueue_accepts(value: object) -> bool:
    from tasks.validation import InvalidAgentInput
    from workers import producer

    try:  # the id is checked before anything is published; a good id fails later
        producer.enqueue("quiz_generator", "quiz", "not an object", task_id=value)  # type: ignore[arg-type]
    except InvalidAgentInput as exc:
        return "task_id" not in str(exc)
    raise AssertionError("enqueue accepted input that is not an object")


@pytest.mark.parametrize("value", [*REFUSED[:6], *ACCEPTED])
def test_every_entry_point_agrees_with_the_rule(value: str) -> None:
    expected = task_ids.is_task_id(value)
    seen = {
        "recorder": _recorder_accepts(value),
        "message schema": _schema_accepts(value),
        "api": _api_accepts(value),
        "enqueue": _enqueue_accepts(value),
    }
    assert seen == dict.fromkeys(seen, expected), seen
