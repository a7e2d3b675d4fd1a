from __future__ import annotations

import pytest

from tasks.registry import AGENT_TYPES, get_spec, load_agents
from tasks.validation import InvalidAgentInput, validate_input


def test_unknown_agent_type() -> None:
    with pytest.raises(ValueError, match="unknown agent_type 'nope'"):
        get_spec("nope")


def test_every_available_example_validates() -> None:
    specs = load_agents()
    assert {"content_generator", "quiz_generator"} <= set(specs)
    for spec in specs.values():
        assert spec.agent_type in AGENT_TYPES
        validate_input(spec.agent_type, spec.example_task_type, spec.example, 1 << 20)


def test_input_must_be_an_object() -> None:
    with pytest.raises(InvalidAgentInput, match="must be a JSON object, not list"):
        validate_input("content_generator", "lesson", [1, 2])


def test_size_limit() -> None:
    spec = get_spec("content_generator")
    with pytest.raises(InvalidAgentInput, match="over the limit of 10 bytes"):
        validate_input("content_generator", spec.example_task_type, spec.example, 10)


def test_bad_field_is_named() -> None:
    spec = get_spec("content_generator")
    bad = dict(spec.example, grade_level=99)
    with pytest.raises(InvalidAgentInput, match="grade_level"):
        validate_input("content_generator", spec.example_task_type, bad)


def test_unsupported_task_type() -> None:
    with pytest.raises(InvalidAgentInput, match="task_type 'dance' is not supported"):
        validate_input("content_generator", "dance", get_spec("content_generator").example)
