"""What enqueue refuses before publishing: the input walker and the scalar arguments."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.registry import get_spec
from tasks.validation import (
    MAX_INPUT_DEPTH,
    InvalidAgentInput,
    brief,
    check_json_value,
    check_text,
    validate_input,
)
from workers import producer


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` lists inside each other around ``leaf`` (built without recursion)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def rejected(value: Any) -> str:
    with pytest.raises(InvalidAgentInput) as info:
        check_json_value(value)
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"questions": [{"text": "a"}, {"text": "b"}, {"text": "c"}, {"text": "x\x00y"}]},
            "input_data.questions[3].text: contains a NUL character (\\u0000)",
        ),
        ({"meta": {"bad\x00key": 1}}, 'input_data.meta["bad\\u0000key"]: the key contains a NUL'),
        ({"a": ["ok", "\ud800"]}, "input_data.a[1]: contains a lone surrogate (\\ud800)"),
        ({"x\udfff": 1}, 'input_data["x\\udfff"]: the key contains a lone surrogate (\\udfff)'),
        ({"a": {"b": float("nan")}}, "input_data.a.b: is nan"),
        ({"a": [float("inf")]}, "input_data.a[0]: is inf"),
        ({"a": -math.inf}, "input_data.a: is -inf"),
        ({"n": 2**64}, "input_data.n: is an integer outside the 64-bit range"),
        ({"n": -(2**63) - 1}, "input_data.n: is an integer outside the 64-bit range"),
        ({"a": {1: "x"}}, "input_data.a: key 1 is of type int; JSON object keys are strings"),
        ({"a b": {"c": {1, 2}}}, 'input_data["a b"].c: is of type set, not a JSON value'),
        ({"a": nested(MAX_INPUT_DEPTH)}, f"nested more than {MAX_INPUT_DEPTH} levels deep"),
    ],
)
def test_walker_names_the_path_of_the_first_problem(value: Any, message: str) -> None:
    assert message in rejected(value)


def test_walker_reports_the_first_problem_in_document_order() -> None:
    value = {"a": [1, {"b": "fine", "c": "\x00"}], "d": float("nan")}
    assert rejected(value).startswith("input_data.a[1].c: contains a NUL")


def test_depth_limit_is_exact_and_deep_input_never_recurses() -> None:
    check_json_value({"a": nested(MAX_INPUT_DEPTH - 1)})  # the object itself is level 1
    assert rejected({"a": nested(MAX_INPUT_DEPTH)}).startswith("input_data.a[0]")
    message = rejected({"a": nested(100_000)})  # far past the interpreter's recursion limit
    assert "input_data.a[0][0]" in message and "nested more than 32 levels" in message
    assert len(message) < 200


def test_long_keys_and_values_are_cut_short_in_messages() -> None:
    message = rejected({"k" * 10_000: "\x00"})
    assert len(message) < 200
    assert brief("x" * 10_000).endswith("...") and len(brief("x" * 10_000)) == 60
    assert "too large to print" in brief(10**10_000)


def test_accepted_values_pass() -> None:
    check_json_value(
        {"s": "é ü 日本 \U0001f600", "n": [0, -1, 2**64 - 1, -(2**63), 1.5, -0.0, True, None]}
    )


def test_validate_input_walks_before_serialising() -> None:
    spec = get_spec("content_generator")
    deep = dict(spec.example, extra=nested(50_000))
    with pytest.raises(InvalidAgentInput, match=r"input_data\.extra\[0\].*nested more than"):
        validate_input("content_generator", spec.example_task_type, deep, 1 << 20)
    bad = dict(spec.example, topic="a\x00b")
    with pytest.raises(InvalidAgentInput, match=r"input_data\.topic: contains a NUL"):
        validate_input("content_generator", spec.example_task_type, bad, 1 << 20)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "sid must be a string, not int"),
        ("x" * 11, "sid is 11 characters long, over the limit of 10"),
        ("a\x00", "sid: contains a NUL character"),
        ("a\ud800", "sid: contains a lone surrogate"),
    ],
)
def test_check_text(value: Any, message: str) -> None:
    with pytest.raises(InvalidAgentInput, match=message):
        check_text("sid", value, 10)
    assert check_text("sid", "fine", 10) == "fine"


@pytest.mark.parametrize(
    ("countdown", "message"),
    [
        (math.inf, "countdown must be a finite number of seconds, not inf"),
        (-math.inf, "countdown must be a finite number of seconds, not -inf"),
        (math.nan, "countdown must be a finite number of seconds, not nan"),
        (1e300, "countdown must be between 0 and 31622400 seconds"),
        pytest.param(10**400, "countdown must be between 0 and 31622400 seconds", id="big"),
        (-1, "countdown must be between 0 and 31622400 seconds"),
        (True, "countdown must be a number of seconds, not bool"),
        ("5", "countdown must be a number of seconds, not str"),
    ],
)
def test_countdown_limits(countdown: Any, message: str) -> None:
    with pytest.raises(InvalidAgentInput, match=message):
        producer._check_countdown(countdown)


def test_countdown_accepts_the_range() -> None:
    assert producer._check_countdown(0) == 0
    assert producer._check_countdown(producer.MAX_COUNTDOWN_SECONDS) == 31_622_400
    assert producer._check_countdown(2.5) == 2.5


HUGE_INT = pytest.param(10**10_000, id="huge-int")  # pytest cannot print it as an id


@pytest.mark.parametrize("priority", [math.nan, 5.0, 10, -1, True, HUGE_INT, "x" * 1000])
def test_priority_limits(priority: Any) -> None:
    with pytest.raises(InvalidAgentInput, match=r"^priority") as info:
        producer._celery_priority(priority)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("user_id", "message"),
    [
        ("0" * 65, "user_id is 65 characters long, over the limit of 64"),
        ("bob\x00", "user_id: contains a NUL"),
        ("bob", "user_id must be a UUID, not 'bob'"),
        pytest.param(10**10_000, "user_id must be a UUID", id="huge-int"),
    ],
)
def test_user_id_limits(user_id: Any, message: str) -> None:
    with pytest.raises(InvalidAgentInput, match=message):
        producer._check_user_id(user_id)


# JSON-like values, including what JSON cannot hold: NaN, infinities, NUL, surrogates,
# integers past 64 bits, non-string keys.
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None), max_size=8)
    | st.sampled_from(["\x00", "a\x00b", "\ud800", "\udfff x"])
)
_keys = st.text(max_size=5) | st.sampled_from(["k\x00", "\ud83d"]) | st.integers(0, 3)
json_like = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_checker_accepts_or_raises_invalid_input_only(value: Any) -> None:
    try:
        check_json_value(value)
    except InvalidAgentInput:
        return
    encoded = json.dumps(value, allow_nan=False, ensure_ascii=False).encode()
    assert b"\x00" not in encoded and b"\\u0000" not in encoded
    orjson.dumps(value)  # what the recorder does with the input


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=200))
def test_checker_never_recurses_at_any_depth(depth: int) -> None:
    value = nested(depth * 50, {"k": "v"})
    if depth * 50 + 1 <= MAX_INPUT_DEPTH:
        check_json_value(value)
    else:
        assert "nested more than" in rejected(value)
