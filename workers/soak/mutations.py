"""Poison made from a real message: one field of a captured Celery task envelope changed
to what a hostile or buggy producer might write (issue 20's probe). The soak puts them on
its agent queues (``workers/soak/poison.py``); the e2e tests put them in front of a real
worker (``tests/e2e/test_poison_schema.py``). Each names the kind of dead letter it must
end as: a worker refuses every one of them by its message schema
(``workers/broker/message_schema.py``) and runs nothing of it.
"""

from __future__ import annotations

import base64
import copy
import json
import zlib
from collections.abc import Callable
from typing import Any

Envelope = dict[str, Any]
Mutation = Callable[[Envelope], bytes]


def _dumps(env: Envelope) -> bytes:
    return json.dumps(env).encode()


def body_of(env: Envelope) -> list[Any]:
    body: list[Any] = json.loads(base64.b64decode(env["body"]))
    return body


def with_body(env: Envelope, body: Any) -> bytes:
    env["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    return _dumps(env)


def _header(name: str, value: Any) -> Mutation:
    def mutate(env: Envelope) -> bytes:
        env["headers"][name] = value
        return _dumps(env)

    return mutate


def _prop(path: tuple[str, ...], value: Any, drop: bool = False) -> Mutation:
    def mutate(env: Envelope) -> bytes:
        at = env["properties"]
        for key in path[:-1]:
            at = at[key]
        if drop:
            at.pop(path[-1], None)
        else:
            at[path[-1]] = value
        return _dumps(env)

    return mutate


def _embed(name: str, value: Any) -> Mutation:
    def mutate(env: Envelope) -> bytes:
        args, kwargs, embed = body_of(env)
        return with_body(env, [args, kwargs, {**(embed or {}), name: value}])

    return mutate


def _deep_args(depth: int) -> Mutation:
    """args holding one value nested ``depth`` lists deep (written as text: json.dumps
    itself cannot go that deep)."""

    def mutate(env: Envelope) -> bytes:
        _, kwargs, embed = body_of(env)
        deep = b"[" * depth + b'"leaf"' + b"]" * depth
        rest = json.dumps([kwargs, embed]).encode()[1:-1]
        env["body"] = base64.b64encode(b"[[" + deep + b"]," + rest + b"]").decode()
        return _dumps(env)

    return mutate


def _kwarg(name: str, value: Any) -> Mutation:
    def mutate(env: Envelope) -> bytes:
        args, kwargs, embed = body_of(env)
        return with_body(env, [args, {**kwargs, name: value}, embed])

    return mutate


def gzip_bomb(inflated_bytes: int) -> Mutation:
    """A zlib body (kombu's "application/x-gzip") that inflates to ``inflated_bytes``."""

    def mutate(env: Envelope) -> bytes:
        squeezer = zlib.compressobj(9)
        chunk = b" " * (1 << 20)
        parts = [squeezer.compress(b"[[], {}, null]")]
        parts += [squeezer.compress(chunk) for _ in range(inflated_bytes >> 20)]
        parts.append(squeezer.flush())
        env["headers"]["compression"] = "application/x-gzip"
        env["body"] = base64.b64encode(b"".join(parts)).decode()
        return _dumps(env)

    return mutate


def _raw_id(value: str) -> Mutation:
    """An id JSON can carry but UTF-8 cannot (a lone surrogate escape)."""

    def mutate(env: Envelope) -> bytes:
        env["headers"]["id"] = "@@ID@@"
        return _dumps(env).replace(b'"@@ID@@"', value.encode())

    return mutate


OVERFLOW_LATE, OVERFLOW_EARLY = "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"

#: name -> (how a good envelope becomes the poison, the kind of its dead letter)
MUTATIONS: dict[str, tuple[Mutation, str]] = {
    # issue 20, item 2: times that overflow when Celery converts them
    "eta_overflows_late": (_header("eta", OVERFLOW_LATE), "headers"),
    "eta_overflows_early": (_header("eta", OVERFLOW_EARLY), "headers"),
    "expires_overflows_late": (_header("expires", OVERFLOW_LATE), "headers"),
    # item 3 and 9: ids the record cannot hold, or the one rule refuses
    "id_lone_surrogate": (_raw_id('"\\ud800abc"'), "headers"),
    "id_with_newline": (_header("id", "abc\ndef"), "headers"),
    "root_id_a_number": (_header("root_id", 5), "headers"),
    "parent_id_with_nul": (_header("parent_id", "a\x00b"), "headers"),
    # item 4: junk in embed
    "chain_of_numbers": (_embed("chain", [1, 2]), "body"),
    "chain_not_a_list": (_embed("chain", "notalist"), "body"),
    "errbacks_a_number": (_embed("errbacks", [5]), "body"),
    "callbacks_without_task": (_embed("callbacks", [{"bad": 1}]), "body"),
    "chord_a_list": (_embed("chord", [1]), "body"),
    "embed_unknown_key": (_embed("retries", "x"), "body"),
    # item 1 (the schema's part): args nested far too deep for the pool
    "args_nested_800": (_deep_args(800), "body"),
    "args_nested_5000": (_deep_args(5000), "body"),
    "kwargs_with_nul": (_kwarg("task_type", "no\x00op"), "body"),
    "kwargs_int_beyond_64_bits": (_kwarg("n", 2**70), "body"),
    # item 5: other fields, wrong type or shape
    "delivery_info_without_routing_key": (
        _prop(("delivery_info", "routing_key"), None, drop=True),
        "envelope",
    ),
    "delivery_info_a_string": (_prop(("delivery_info",), "x"), "envelope"),
    "routing_key_a_number": (_prop(("delivery_info", "routing_key"), 7), "envelope"),
    "priority_out_of_range": (_prop(("priority",), 1000), "envelope"),
    "delivery_tag_a_list": (_prop(("delivery_tag",), [1]), "envelope"),
    "body_encoding_unknown": (_prop(("body_encoding",), "rot13"), "envelope"),
    "content_encoding_a_number": (
        lambda env: _dumps({**env, "content-encoding": 8}),
        "envelope",
    ),
    "timelimit_negative": (_header("timelimit", [-1, None]), "headers"),
    "timelimit_huge": (_header("timelimit", [1e300, None]), "headers"),
    "retries_huge": (_header("retries", 10**30), "headers"),
    "group_index_a_string": (_header("group_index", "x"), "headers"),
    "argsrepr_a_list": (_header("argsrepr", [1]), "headers"),
    "ignore_result_a_string": (_header("ignore_result", "yes"), "headers"),
    "stamps_a_list": (_header("stamps", [1]), "headers"),
    "replaced_task_nesting_negative": (_header("replaced_task_nesting", -1), "headers"),
    "shadow_a_number": (_header("shadow", 3), "headers"),
    "compression_unknown": (_header("compression", "application/x-nonsense"), "headers"),
    # item 6: a compressed body that inflates far past the size limit
    "gzip_bomb": (gzip_bomb(64 << 20), "too_large"),
}


def mutate(name: str, template: Envelope) -> bytes:
    """The poison ``name`` made from a copy of ``template``."""
    return MUTATIONS[name][0](copy.deepcopy(template))
