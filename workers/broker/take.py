"""Taking a message off its queue and into the unacked set in one step, on the server.

Kombu's Redis transport takes a message with ``BRPOP`` and only then, from the worker,
writes it to the unacked set that the visibility timeout restores from. A worker killed,
or a connection broken, between the two loses the message: it is on no queue and in no
set. The fleet soak lost tasks this way when it SIGKILLed a worker (1 run in 5 at
1 500 tasks) and around a Redis restart.

Here the worker does not pop queues with ``BRPOP``. It takes messages with TAKE,
a Lua script that pops the first message of its queues, in kombu's order, and writes it
to the unacked set (``unacked`` hash and ``unacked_index``, as kombu would) before it
replies: from then on the message is either on its queue or in the unacked set, whatever
happens to the worker. While TAKE finds messages the worker takes again at once; when it
finds none, the worker waits on its queues' *bells* (``BRPOP`` on ``<queue>:bell``; a bell
lost costs nothing), which producers ring with each message in the same round trip, and
takes again when one rings or after ``brpop_timeout`` (1 s) — so a message put on a queue
without a bell (kombu's restore of unacked messages, a replayed dead letter, an older
producer) waits at most that long on an idle worker.

TAKE is :data:`SCRIPT_FILE` (``take.lua``), read once per process and called by its SHA
(``EVALSHA``): the script's text crosses the network once, not with every take. Redis
forgets loaded scripts when it restarts (or on ``SCRIPT FLUSH``) and answers ``NOSCRIPT``;
nothing ran then, so the worker loads the script again and calls it once more
(:func:`run`; redis-py's ``Script`` does the reloading).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis.commands.core import Script

BELL_SUFFIX = "bell"
BELL_MAX = 10_000  # bells beyond this add nothing: a worker that wakes takes what is there

# The script itself is take.lua, next to this file (package data: it ships in the wheel).
SCRIPT_FILE = Path(__file__).with_name("take.lua")

TAKING = "agentq:messages:taking"  # poison taken and not yet set aside: tag -> key\nmessage
TAKING_INDEX = "agentq:messages:taking:index"  # tag -> when it was taken
TAKING_PREFIX = "taking:"


def bell(queue: str, sep: str) -> str:
    """The bell key of ``queue`` (a list of tokens; only its length matters)."""
    return f"{queue}{sep}{BELL_SUFFIX}"


@functools.cache
def script() -> Script:
    """TAKE, read from ``take.lua`` once per process. ``.sha`` is what ``EVALSHA`` calls;
    ``.script`` the text (bytes) that ``SCRIPT LOAD`` sends."""
    return Script(None, SCRIPT_FILE.read_bytes())  # type: ignore[arg-type]


def evalsha_args(keys: Sequence[Any], argv: Sequence[Any]) -> list[Any]:
    """``EVALSHA``'s arguments for TAKE on ``keys`` with ``argv`` (for a command sent on
    a connection and read later; a ``NOSCRIPT`` reply to it means nothing ran: :func:`run`)."""
    return [script().sha, len(keys), *keys, *argv]


def run(client: Any, keys: Sequence[Any], argv: Sequence[Any]) -> Any:
    """TAKE on ``keys`` with ``argv`` now: ``EVALSHA``, and on ``NOSCRIPT`` (Redis
    restarted) ``SCRIPT LOAD`` and ``EVALSHA`` again."""
    return script()(keys=list(keys), args=list(argv), client=client)
