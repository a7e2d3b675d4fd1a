"""What the broker layer relies on inside kombu and Celery, recorded.

``workers/broker/redis_transport.py`` overrides private methods of kombu's Redis
transport (some are copies of kombu's with one change) and writes kombu's unacked entries
itself (``take.py``); ``workers/broker/consumer.py`` overrides Celery's consumer, and
``workers/broker/handoff.py`` relies on how billiard's pool registers a job before
Celery's asynpool pickles it. None of that is public API: a kombu, Celery or billiard
release may rename a method, change its arguments or change what its body does, and the
override would then silently do the old thing. ``pyproject.toml`` pins them to the minor
versions tested; this module records, for each method we override or call, its signature
and a digest of its body (the code without docstring and comments, so a reworded comment
is no change) as they are in those versions.
``tests/integration/test_broker_contract.py`` fails when one differs, naming the method,
what changed and our code that depends on it.

After an upgrade: read the new kombu/Celery code of each method listed as changed, carry
the change into our override (or convince yourself none is needed), then print the new
values with ``python -m workers.broker.kombu_contract`` and update :data:`RELIED_ON`.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.metadata
import inspect
import re
import textwrap
from dataclasses import dataclass
from typing import Any

RT = "workers/broker/redis_transport.py"
CONSUMER = "workers/broker/consumer.py"
HANDOFF = "workers/broker/handoff.py"
TAKE = "workers/broker/take.lua"


@dataclass(frozen=True)
class Relied:
    """One method of kombu / Celery and what of ours depends on it."""

    target: str  # "module:Class.method"
    signature: str
    digest: str  # of the body; "" when only the signature matters
    ours: str  # where our code depends on it, and how


# The minor versions the table was recorded with (pyproject.toml pins the same).
RECORDED_WITH = {"kombu": "5.7", "celery": "5.7", "billiard": "4.3"}

RELIED_ON: tuple[Relied, ...] = (
    # --- overridden in redis_transport.py ----------------------------------------------
    Relied(
        "kombu.transport.redis:QoS.restore_visible",
        "(self, start=0, num=10, interval=10)",
        "cc129f40c0a3",
        f"{RT} QoS.restore_visible (calls it, then sets aside abandoned poison)",
    ),
    Relied(
        "kombu.transport.redis:Channel.__init__",
        "(self, *args, **kwargs)",
        "f2d6effae761",
        f"{RT} Channel.__init__ (reads connection.client before calling it)",
    ),
    Relied(
        "kombu.transport.redis:Channel._connparams",
        "(self, asynchronous=False)",
        "517586669aa3",
        f"{RT} Channel._connparams (lends it transport.client after a lost connection)",
    ),
    Relied(
        "kombu.transport.redis:Channel.basic_consume",
        "(self, queue, *args, **kwargs)",
        "fc3ea75911e3",
        f"{RT} Channel.basic_consume (calls it, then replaces the callback it registered)",
    ),
    Relied(
        "kombu.transport.virtual.base:Channel.basic_consume",
        "(self, queue, no_ack, callback, consumer_tag, **kwargs)",
        "16f12a661384",
        f"{RT} Channel.basic_consume's _callback (a copy of this one's, envelope guarded)",
    ),
    Relied(
        "kombu.transport.redis:Channel._put",
        "(self, queue, message, **kwargs)",
        "5414db938408",
        f"{RT} Channel._put (a copy: LPUSH, expiry, _publish_batch; plus the bell)",
    ),
    Relied(
        "kombu.transport.redis:Channel._brpop_start",
        "(self, timeout=None)",
        "5e42aad2a474",
        f"{RT} Channel._brpop_start (a copy: queue cycle, _in_poll, _brpop_sent_at; TAKE)",
    ),
    Relied(
        "kombu.transport.redis:Channel._brpop_read",
        "(self, **options)",
        "61a2bfc9294c",
        f"{RT} Channel._brpop_read (a copy: parse, rotate, _deliver, flush re-auth; guarded)",
    ),
    # --- called by the overrides, or reading what TAKE writes --------------------------
    Relied(
        "kombu.transport.redis:QoS._remove_from_indices",
        "(self, delivery_tag, pipe=None)",
        "",
        f"{RT} basic_consume's _callback (poison out of the unacked set: .execute())",
    ),
    Relied(
        "kombu.transport.redis:QoS.append",
        "(self, message, delivery_tag)",
        "62a64dc288de",
        f"{TAKE}: TAKE writes this entry itself: [message, exchange, routing key], scored now",
    ),
    Relied(
        "kombu.transport.virtual.base:QoS.append",
        "(self, message, delivery_tag)",
        "",
        f"{RT} basic_consume's _callback (TAKE wrote Redis: only the in-memory part)",
    ),
    Relied(
        "kombu.transport.redis:QoS.restore_by_tag",
        "(self, tag, client=None, leftmost=False)",
        "d80dd8c69a82",
        f"{TAKE}: kombu reads back the unacked entry TAKE wrote",
    ),
    Relied(
        "kombu.transport.redis:Channel._do_restore_message",
        "(self, payload, exchange, routing_key, pipe, leftmost=False)",
        "70f28a5b5ebc",
        f"{TAKE}: kombu restores the unacked entry TAKE wrote",
    ),
    Relied(
        "kombu.transport.redis:MultiChannelPoller._register_BRPOP",
        "(self, channel)",
        "a380d25fcb53",
        f"{RT} Channel._brpop_start (called with no argument when _in_poll is false)",
    ),
    Relied(
        "kombu.transport.redis:Channel._q_for_pri",
        "(self, queue, pri)",
        "",
        f"{RT} Channel._put / _take_args (the queue keys, in kombu's priority order)",
    ),
    Relied(
        "kombu.transport.redis:Channel._get_message_priority",
        "(self, message, reverse=False)",
        "",
        f"{RT} Channel._put",
    ),
    Relied(
        "kombu.transport.redis:Channel.conn_or_acquire",
        "(self, client=None)",
        "",
        f"{RT} QoS.restore_visible, Channel._put",
    ),
    Relied(
        "kombu.transport.redis:Channel._flush_brpop_reauth",
        "(self)",
        "",
        f"{RT} Channel._brpop_read (called when present, as kombu 5.7's does)",
    ),
    Relied(
        "kombu.transport.redis:PublishBatch.add",
        "(self, name, *args)",
        "",
        f"{RT} Channel._put (the bell joins kombu's publish batch)",
    ),
    # --- Celery's consumer, overridden in consumer.py -----------------------------------
    Relied(
        "celery.worker.consumer.consumer:Consumer.__init__",
        "(self, on_task_request, init_callback=<function noop>, hostname=None, pool=None, "
        "app=None, timer=None, controller=None, hub=None, amqheartbeat=None, "
        "worker_options=None, disable_rate_limits=False, initial_prefetch_count=2, "
        "prefetch_multiplier=1, **kwargs)",
        "",
        f"{CONSUMER} Consumer.__init__ (calls it, then reads self.hostname)",
    ),
    Relied(
        "celery.worker.consumer.consumer:Consumer.create_task_handler",
        "(self, promise=<class 'vine.promises.promise'>)",
        "548d78039466",
        f"{CONSUMER} Consumer.create_task_handler (wraps the handler it returns)",
    ),
    Relied(
        "celery.worker.consumer.consumer:Consumer.on_unknown_message",
        "(self, body, message)",
        "",
        f"{CONSUMER} Consumer.on_unknown_message (sets aside instead of dropping)",
    ),
    Relied(
        "celery.worker.consumer.consumer:Consumer.on_unknown_task",
        "(self, body, message, exc)",
        "",
        f"{CONSUMER} Consumer.on_unknown_task (sets aside instead of dropping)",
    ),
    Relied(
        "celery.worker.consumer.consumer:Consumer.on_invalid_task",
        "(self, body, message, exc)",
        "",
        f"{CONSUMER} Consumer.on_invalid_task (sets aside instead of dropping)",
    ),
    Relied(
        "celery.worker.consumer.consumer:Consumer.on_decode_error",
        "(self, message, exc)",
        "",
        f"{CONSUMER} Consumer.on_decode_error (sets aside instead of dropping)",
    ),
    # --- the prefork pool's hand-off, guarded in handoff.py ------------------------------
    Relied(
        "celery.concurrency.prefork:TaskPool.on_start",
        "(self)",
        "478892e03f16",
        f"{HANDOFF} guard_pool (wraps the on_apply that on_start sets to billiard's apply_async)",
    ),
    Relied(
        "billiard.pool:Pool.apply_async",
        "(self, func, args=(), kwds={}, callback=None, error_callback=None, "
        "accept_callback=None, timeout_callback=None, waitforslot=None, soft_timeout=None, "
        "timeout=None, lost_worker_timeout=None, callbacks_propagate=(), correlation_id=None)",
        "3e4159875d0b",
        f"{HANDOFF} _not_handed_over (takes _putlock, registers the job in _cache first)",
    ),
    Relied(
        "billiard.pool:ApplyResult.__init__",
        "(self, cache, callback, accept_callback=None, timeout_callback=None, "
        "error_callback=None, soft_timeout=None, timeout=None, lost_worker_timeout=10.0, "
        "on_timeout_set=None, on_timeout_cancel=None, callbacks_propagate=(), send_ack=None, "
        "correlation_id=None)",
        "6a2ce428b05c",
        f"{HANDOFF} _unregister (reads correlation_id and _write_to of cached jobs)",
    ),
    Relied(
        "celery.concurrency.asynpool:AsynPool._create_write_handlers",
        "(self, hub, pack=<built-in function pack>, dumps=<built-in function dumps>, protocol=5)",
        "52f218c355d1",
        f"{HANDOFF} (send_job pickles after the job is registered and its slot taken)",
    ),
)

# Attributes the overrides read or set on a live channel (and its QoS and transport);
# checked on a real channel by the test, since most are set in __init__.
CHANNEL_ATTRIBUTES = (
    "ack_emulation",  # _atomic_take: kombu's path when false
    "global_keyprefix",  # _atomic_take: kombu's path when set
    "unacked_key",  # TAKE's unacked hash
    "unacked_index_key",  # TAKE's unacked index
    "brpop_timeout",  # how long to wait on the bells
    "_queue_cycle",  # .consume(n) / .rotate(queue): kombu's fair order
    "active_queues",
    "priority_steps",
    "sep",
    "_expires",
    "_in_poll",  # read by MultiChannelPoller
    "_brpop_sent_at",  # read by MultiChannelPoller.maybe_check_brpop_health
    "client",  # .connection.send_command, .parse_response, .eval, .pipeline
    "connection_errors",
    "Message",
    "qos",
    "connection",
)
QOS_ATTRIBUTES = ("visibility_timeout", "channel", "_delivered")
TRANSPORT_ATTRIBUTES = ("_callbacks", "_deliver", "client")


def resolve(target: str) -> Any:
    """The object named ``"module:Class.attr"``."""
    module, _, path = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def digest(func: Any) -> str:
    """12 hex digits of the function's code, without its docstring and comments."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    node = tree.body[0]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and ast.get_docstring(node):
        node.body.pop(0)
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()[:12]


def current(target: str) -> tuple[str, str]:
    """The signature and body digest of ``target`` as installed."""
    func = resolve(target)
    # a default's repr may hold its address ("<function noop at 0x7f…>"): not a change
    signature = re.sub(r" at 0x[0-9a-f]+>", ">", str(inspect.signature(func)))
    return signature, digest(func)


def problems() -> list[str]:
    """One line per recorded method that is missing or differs, empty when all hold."""
    out: list[str] = []
    for dist, minor in RECORDED_WITH.items():
        installed = importlib.metadata.version(dist)
        if not installed.startswith(f"{minor}."):
            out.append(
                f"{dist} {installed} is installed, the contract was recorded with {minor}.x "
                "(pyproject.toml pins it): review every method below"
            )
    for r in RELIED_ON:
        try:
            signature, body = current(r.target)
        except (ImportError, AttributeError) as exc:
            out.append(f"{r.target} is gone ({exc}); ours: {r.ours}")
            continue
        except (OSError, TypeError) as exc:  # no Python source to read (built, or in C)
            out.append(f"{r.target} cannot be read ({exc}); ours: {r.ours}")
            continue
        if signature != r.signature:
            out.append(
                f"{r.target} signature changed: recorded {r.signature}, now {signature}; "
                f"ours: {r.ours}"
            )
        if r.digest and body != r.digest:
            out.append(
                f"{r.target} body changed (digest {r.digest} -> {body}): read the new code; "
                f"ours: {r.ours}"
            )
    return out


def main() -> None:
    """Print the table as it is now (to update RELIED_ON after reviewing a change)."""
    for r in RELIED_ON:
        signature, body = current(r.target)
        print(f"{r.target}\n    {signature}\n    {body if r.digest else '(signature only)'}")


if __name__ == "__main__":
    main()
