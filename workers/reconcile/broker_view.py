"""What the broker holds, read in pages so a large backlog never blocks Redis.

Every agent queue (itself and its priority sub-queues ``<queue>:1`` .. ``<queue>:9``,
kombu's keys with ``priority_steps`` 0-9) is read with ``LRANGE`` in pages of ``page``
messages; the unacked hash (kombu's ``unacked``: what workers took and have not
acknowledged, reserved and ETA tasks included, since tasks are acknowledged late) and
our TAKE ``taking`` hash with ``HSCAN``; the broker dead letters with ``XRANGE`` pages.
No command reads a whole key in one call and nothing uses ``KEYS``.

Queues are read before the unacked hash: TAKE moves a message from a queue into the
unacked hash in one step, so a message taken while the queues are read is found in the
hash afterwards. A list that changes between pages only shifts messages towards the
tail (producers ``LPUSH`` at the head), so a message may be seen twice, which is harmless;
kombu's restore ``RPUSH``es at the tail, which the last pages read. What a pass can still
miss (a message restored from the unacked hash to a queue between the two reads) the
reconciler reads again before it calls a task lost (``workers/reconcile/run.py``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from workers.broker.dead_letters import MESSAGES_STREAM
from workers.broker.take import TAKING
from workers.reconcile.kinds import WHERE_DEAD, WHERE_TAKING, WHERE_UNACKED
from workers.routing import agent_type_of

UNACKED = "unacked"  # kombu's default unacked_key
PRIORITY_STEPS = range(1, 10)  # priority 0 is the queue's own key
DEFAULT_PAGE = 1000


@dataclass(slots=True)
class Sighting:
    """One message of an agent task, where it was seen."""

    task_id: str
    agent_type: str
    attempt: int
    where: str
    expires: float | None = None
    time_limit: float | None = None  # the message's own hard limit (header timelimit)
    raw: bytes | None = None  # kept only for tasks the caller asked for (no row known)


@dataclass(slots=True)
class BrokerView:
    """Every agent task message the broker holds, by task id, and what reading it cost."""

    seen: dict[str, Sighting] = field(default_factory=dict)
    pages: int = 0
    messages: int = 0
    longest_command_s: float = 0.0
    seconds: float = 0.0

    def add(self, s: Sighting) -> None:
        # a message both queued and taken (seen twice across pages): keep the first place
        self.seen.setdefault(s.task_id, s)

    def timed(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``: one Redis command, its time kept if the longest."""
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.longest_command_s = max(self.longest_command_s, time.perf_counter() - start)
            self.pages += 1


def queue_keys(queue: str) -> list[str]:
    """The Redis lists of ``queue``: itself and one per priority step above 0."""
    return [queue, *(f"{queue}:{p}" for p in PRIORITY_STEPS)]


def _parse_time(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return float(value)
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def parse_message(raw: bytes | str, where: str) -> Sighting | None:
    """The sighting of one kombu message (its JSON envelope), or None when it is not an
    agent task (beat's, Celery's own) or cannot be read (poison is the guard's business)."""
    try:
        env = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return sighting(env, where)


def sighting(env: Any, where: str) -> Sighting | None:
    """:func:`parse_message` of an envelope already decoded."""
    try:
        headers = env.get("headers") or {}
        task_id, name = headers.get("id"), headers.get("task")
    except AttributeError:
        return None
    agent_type = agent_type_of(name) if isinstance(name, str) else None
    if not isinstance(task_id, str) or agent_type is None:
        return None
    retries = headers.get("retries")
    return Sighting(
        task_id=task_id,
        agent_type=agent_type,
        attempt=retries if isinstance(retries, int) and retries >= 0 else 0,
        where=where,
        expires=_parse_time(headers.get("expires")),
        time_limit=_hard_limit(headers.get("timelimit")),
    )


def _hard_limit(value: Any) -> float | None:
    # protocol 2: [hard, soft], either None (the task's own)
    if isinstance(value, list | tuple) and len(value) == 2:
        hard = value[0]
        if isinstance(hard, int | float) and not isinstance(hard, bool) and hard > 0:
            return float(hard)
    return None


def message_body(raw: bytes) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
    """A task message's headers, args and kwargs (protocol 2)."""
    env = orjson.loads(raw)
    body: Any = env.get("body") or b""
    if (env.get("properties") or {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, kwargs, _embed = orjson.loads(body)
    return dict(env.get("headers") or {}), list(args or []), dict(kwargs or {})


def read_broker(
    client: Any,
    queues: Iterable[str],
    *,
    page: int = DEFAULT_PAGE,
    keep_raw: Callable[[str], bool] = lambda _id: False,
    dead_letters: Any = None,
) -> BrokerView:
    """Read every place a message can be (see the module docstring). ``client`` is the
    broker's Redis; ``dead_letters`` the recording Redis holding the dead letters (the
    broker's when None)."""
    view = BrokerView()
    start = time.perf_counter()

    def add(raw: Any, where: str, env: Any = None) -> None:
        view.messages += 1
        s = parse_message(raw, where) if env is None else sighting(env, where)
        if s is not None:
            if keep_raw(s.task_id):
                s.raw = orjson.dumps(env) if env is not None else bytes(raw)
            view.add(s)

    for queue in queues:
        for key in queue_keys(queue):
            for raw in _list_pages(client, view, key, page):
                add(raw, key)
    for value in _hash_pages(client, view, UNACKED, page):  # tag -> [message, exchange, key]
        try:
            message = orjson.loads(value)[0]
        except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
            continue
        add(None, WHERE_UNACKED, message)
    for value in _hash_pages(client, view, TAKING, page):  # tag -> "<queue key>\n<message>"
        add(bytes(value).partition(b"\n")[2], WHERE_TAKING)
    _read_dead_letters(dead_letters if dead_letters is not None else client, view, page)
    view.seconds = time.perf_counter() - start
    return view


def _list_pages(client: Any, view: BrokerView, key: str, page: int) -> Iterable[Any]:
    offset = 0
    while True:
        items = view.timed(client.lrange, key, offset, offset + page - 1)
        yield from items
        if len(items) < page:
            return
        offset += page


def _hash_pages(client: Any, view: BrokerView, key: str, page: int) -> Iterable[Any]:
    cursor: Any = 0
    while True:
        cursor, entries = view.timed(client.hscan, key, cursor, count=page)
        yield from entries.values()
        if not int(cursor):
            return


def _read_dead_letters(client: Any, view: BrokerView, page: int) -> None:
    after = "-"
    while True:
        rows = view.timed(client.xrange, MESSAGES_STREAM, after, "+", count=page)
        for _eid, fields in rows:
            tid = fields.get(b"task_id") or b""
            if tid:
                task_id = tid.decode("utf-8", "replace")
                view.add(Sighting(task_id, "", 0, WHERE_DEAD))
        if len(rows) < page:
            break
        last = rows[-1][0]
        after = "(" + (last.decode() if isinstance(last, bytes) else str(last))
