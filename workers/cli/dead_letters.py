"""``agentq dead-letters``: list, replay or purge what was set aside.

Broker messages a worker could not turn into a task (``messages``) and recording-stream
entries the recorder could not record (``recording``); see
``workers/broker/dead_letters.py``. Exit codes are ``agentq``'s: 1 bad input or
settings, 4 Redis unreachable.

    agentq dead-letters                      # both sources, newest 1000 each
    agentq dead-letters --source messages --json
    agentq dead-letters --replay 1733270000000-0 --replay ...   (or --replay all)
    agentq dead-letters --purge [--source recording]
"""

from __future__ import annotations

import re
from typing import Any

import click

from workers.broker.dead_letters import (
    SOURCE_MESSAGES,
    SOURCE_RECORDING,
    SOURCES,
    DeadLetters,
    NotReplayable,
    message_parts,
)
from workers.cli import common


@click.command()
@click.option(
    "--source",
    type=click.Choice([*SOURCES, "all"]),
    default="all",
    show_default=True,
    help="Broker messages, recording-stream entries, or both.",
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--purge", is_flag=True, help="Delete them (after listing how many).")
@click.option(
    "--replay",
    "replay_ids",
    multiple=True,
    help="Put a dead letter back (its id; 'all' for every one of --source).",
)
def dead_letters(
    source: str, as_json: bool, limit: int, purge: bool, replay_ids: tuple[str, ...]
) -> None:
    """List what workers and recorders set aside instead of stopping, with the reasons."""
    import redis

    settings = common.load_settings()
    if purge and replay_ids:
        common.fail("--purge and --replay cannot be combined", common.EXIT_INVALID)
    client = redis.Redis.from_url(
        settings.recorder_redis_url, socket_timeout=10, socket_connect_timeout=5
    )
    store = DeadLetters(client, settings.events_stream)
    sources = list(SOURCES) if source == "all" else [source]
    try:
        if purge:
            result: Any = {s: store.purge(s)[s] for s in sources}
            _report(result, as_json, "purged")
        elif replay_ids:
            _check_ids(store, sources, replay_ids)
            result = {s: _replay(store, s, replay_ids, limit) for s in sources}
            _report(result, as_json, "replayed")
        else:
            rows = [row for s in sources for row in store.entries(s, limit)]
            _list(rows, as_json)
    except redis.RedisError as exc:
        common.fail(
            f"Redis unreachable ({settings.recorder_redis_url}): {exc}", common.EXIT_UNAVAILABLE
        )


STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


def _check_ids(store: DeadLetters, sources: list[str], ids: tuple[str, ...]) -> None:
    """Exit 1, replaying nothing, for an id that is not a stream id or is no dead letter of
    ``sources`` (Redis itself would answer "Invalid stream ID", or nothing)."""
    if ids == ("all",):
        return
    if "all" in ids:
        common.fail("--replay all cannot be combined with ids", common.EXIT_INVALID)
    bad = [i for i in ids if not STREAM_ID.fullmatch(i)]
    if bad:
        common.fail(
            f"not a dead-letter id: {', '.join(map(repr, bad))} (ids are stream ids such as "
            "1733270000000-0, as `agentq dead-letters` lists them)",
            common.EXIT_INVALID,
        )
    known = {eid for s in sources for eid, _ in store.take(s, ids)}
    unknown = [i for i in ids if i not in known]
    if unknown:
        where = " or ".join(sources)
        common.fail(
            f"unknown dead-letter id: {', '.join(unknown)} (no such dead letter in {where}; "
            "nothing was replayed)",
            common.EXIT_INVALID,
        )


def _replay(store: DeadLetters, source: str, ids: tuple[str, ...], limit: int) -> dict[str, Any]:
    chosen = [r["id"] for r in store.entries(source, limit)] if ids == ("all",) else list(ids)
    if source == SOURCE_RECORDING:
        return {"replayed": store.replay_recording(chosen), "kept": []}
    return _replay_messages(store, chosen)


def _replay_messages(store: DeadLetters, ids: list[str]) -> dict[str, Any]:
    from workers.app import app

    done, kept = 0, []
    with app.producer_or_acquire() as producer:
        for eid, fields in store.take(SOURCE_MESSAGES, ids):
            try:
                if fields.get(b"truncated") == b"1":
                    raise NotReplayable("it was truncated when it was set aside")
                parts = message_parts(fields.get(b"raw", b""))
            except NotReplayable as exc:
                kept.append({"id": eid, "why": str(exc)})
                continue
            queue = fields.get(b"queue", b"").decode()
            producer.publish(parts.pop("body"), exchange="", routing_key=queue, retry=True, **parts)
            store.forget(SOURCE_MESSAGES, eid)
            done += 1
    return {"replayed": done, "kept": kept}


def _report(result: dict[str, Any], as_json: bool, verb: str) -> None:

    if as_json:
        common.print_json(result)
        return
    for source, value in result.items():
        if isinstance(value, int):
            common.console.print(f"{source}: {verb} {value}", highlight=False)
            continue
        common.console.print(f"{source}: {verb} {value['replayed']}", highlight=False)
        for k in value["kept"]:
            common.console.print(f"  kept {k['id']}: {k['why']}", highlight=False)


def _list(rows: list[dict[str, Any]], as_json: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    if as_json:
        common.print_json(rows)
        return
    if not rows:
        common.console.print("no dead letters", highlight=False)
        return
    table = Table("source", "id", "where", "kind", "reason", "size")
    for r in rows:
        where = r.get("queue") or r.get("entry") or ""
        kind = r.get("kind") or ("entry" if r["source"] == SOURCE_RECORDING else "")
        table.add_row(
            r["source"], r["id"], escape(where), kind, escape(r.get("reason", "")), str(r["size"])
        )
    common.console.print(table)
