"""The recorder: drains the recording stream into the store, in batches.

It reads the Redis stream as one consumer of the ``recorders`` group, so any
number of recorders (one embedded in every worker by default, or ``agentq
recorder`` processes) share the work. An entry is acknowledged and deleted only
after its batch is committed; entries a dead recorder had read are claimed by
another after ``claim_idle_ms``. While the database is down the recorder keeps
the batch and retries with backoff: the stream (and the spool, when Redis itself
was down) holds everything meanwhile, so no accepted transition is lost.

Every entry either lands or goes to the dead-letter stream ``<stream>:dead``
(fields ``e``: its original bytes, ``entry``: its stream id, ``reason``: one line), and
is then acknowledged and deleted like any other: a bad entry never blocks the others and
is never read again. Which entries are bad is found only when the database rejects a
batch: each entry is then decoded and checked (``persistence/wire.py``), and the good
ones are recorded in halves until every entry the database still rejects stands alone.

After every batch the recorder sets ``<stream>:progress`` (a hash: ``at``, the time,
``entries``, how many it handled, ``consumer``) in the acknowledgement's round trip;
``workers/health/checks.py`` reads it to tell a stalled recorder from an idle one.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from persistence import wire
from persistence.errors import DatabaseUnavailable, PersistenceError
from persistence.lifecycle import Transition
from persistence.store import Store
from workers.recording.entries import (
    Dead,
    Decoded,
    Entry,
    Group,
    dead_letter_fields,
    decode_entries,
    fast_path_applies,
    reason_of,
    refused,
)
from workers.recording.sink import replay_spool
from workers.recording.stream_fields import keep_repeated_fields, repeated_reason
from workers.tracing import setup as tracing

logger = logging.getLogger(__name__)

GROUP = "recorders"
PROGRESS_SUFFIX = ":progress"  # the progress marker's key: <stream>:progress


@dataclass
class RecorderStats:
    batches: int = 0
    entries: int = 0
    transitions: int = 0
    new_events: int = 0
    dead_letters: int = 0
    db_errors: int = 0
    last_error: str | None = None
    lag_seconds: list[float] = field(default_factory=list)


class Recorder:
    """One consumer of the recording stream, writing to ``store``."""

    def __init__(
        self,
        redis_url: str,
        store: Store,
        *,
        stream: str = "agentq:events",
        consumer: str | None = None,
        batch_size: int = 500,
        backlog_batch_size: int | None = None,
        block_ms: int = 50,
        batch_window_ms: int = 0,
        claim_idle_ms: int = 30_000,
        spool_dir: Path | None = None,
        heartbeat: tuple[str, Sequence[str]] | None = None,
        heartbeat_seconds: float = 10.0,
        max_backoff: float = 5.0,
    ) -> None:
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        keep_repeated_fields(self.redis)  # an entry with 'e' twice is set aside, not cut
        self.store = store
        self.stream = stream
        self.dead_stream = stream + ":dead"
        self.progress_key = stream + PROGRESS_SUFFIX
        self.consumer = consumer or f"{socket.gethostname()}-{id(self):x}"
        self.batch_size = batch_size
        # Read after a full read (a backlog): a task's phases then share a batch more often.
        self.backlog_batch_size = max(backlog_batch_size or batch_size, batch_size)
        self.block_ms = block_ms
        self.batch_window = batch_window_ms / 1000
        self._last_batch = 0.0
        self._backlog_seen = False  # the last read of new entries came back full
        self.claim_idle_ms = claim_idle_ms
        self.spool_dir = spool_dir
        self.heartbeat_target = heartbeat
        self.heartbeat_seconds = heartbeat_seconds
        self.max_backoff = max_backoff
        self.stats = RecorderStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._group_ready = False
        self._next_claim = 0.0
        self._next_heartbeat = 0.0
        self._next_spool = 0.0

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="agentq-recorder", daemon=True)
        self._thread.start()

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop after draining what is in the stream now, for at most ``drain_seconds``."""
        deadline = time.monotonic() + drain_seconds
        while time.monotonic() < deadline and self._backlog() > 0 and self._thread_alive():
            time.sleep(0.05)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(0.1, deadline - time.monotonic()) + 2)

    def _thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _backlog(self) -> int:
        try:
            info = self.redis.xinfo_groups(self.stream)
        except redis.RedisError:
            return 0
        for g in info:
            if g.get("name") in (GROUP, GROUP.encode()):
                return int(g.get("lag") or 0) + int(g.get("pending") or 0)
        return 0

    def run(self) -> None:
        """Consume until :meth:`stop`; never raises."""
        logger.info("recorder %s started on stream %s", self.consumer, self.stream)
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self.run_once()
                backoff = 0.1
            except (redis.RedisError, PersistenceError) as exc:
                if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                    # Redis lost the group (restart without persistence, FLUSHDB):
                    # create it again, from the start of whatever stream there is now.
                    self._group_ready = False
                self.stats.last_error = str(exc)
                logger.warning(
                    "recorder paused %.1fs: %s", backoff, exc, extra={"action": "recorder_backoff"}
                )
                self._stop.wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)
            except Exception:
                logger.exception("recorder error", extra={"action": "recorder_error"})
                self._stop.wait(1.0)
        logger.info("recorder %s stopped", self.consumer)

    # --- one round ---------------------------------------------------------------------
    def run_once(self) -> int:
        """Read one batch (own pending first, then claimed, then new) and record it."""
        self._ensure_group()
        self._housekeeping()
        entries = self._read("0") or self._claim()
        if not entries:
            self._wait_for_window()
            entries = self._read(">", block=True)
            self._backlog_seen = len(entries) >= self.batch_size
        if entries:
            started = time.time_ns()
            self._process(entries)
            tracing.after_commit(entries, started)  # each task's trace, when tracing is on
            self._last_batch = time.monotonic()
        return len(entries)

    def _wait_for_window(self) -> None:
        """Let a batch gather for ``batch_window`` after the previous one.

        Fewer, larger batches cost far less per transition (set-based statements; a task's
        transitions then share a batch: its row inserted once, not inserted and updated);
        the price is that much extra lag. No wait after a full read: the stream holds a
        backlog, the next batch is full already (and ``backlog_batch_size`` long).
        """
        if self._backlog_seen:
            return
        remaining = self._last_batch + self.batch_window - time.monotonic()
        if remaining > 0:
            self._stop.wait(remaining)

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # From the start of the stream: events added before any recorder existed count.
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._mark_started()
        self._group_ready = True

    def _mark_started(self) -> None:
        """A progress marker from the start (kept if there is one): a recorder that never
        commits a batch shows as stalled too."""
        try:
            self.redis.hsetnx(self.progress_key, "at", time.time())
        except redis.ResponseError as exc:  # OOM: the marker is not worth stopping for
            logger.warning("progress marker not set: %s", exc)

    def _read(self, last_id: str, block: bool = False) -> list[Entry]:
        resp: Any = self.redis.xreadgroup(
            GROUP,
            self.consumer,
            {self.stream: last_id},
            count=self.backlog_batch_size if self._backlog_seen else self.batch_size,
            block=self.block_ms if block else None,
        )
        if not resp:
            return []
        ghosts = [eid for eid, fields in resp[0][1] if not fields]
        if ghosts:  # pending, but deleted from the stream (XTRIM): only the PEL holds them
            self.redis.xack(self.stream, GROUP, *ghosts)
        return [(eid, fields) for eid, fields in resp[0][1] if fields]

    def _claim(self) -> list[Entry]:
        now = time.monotonic()
        if now < self._next_claim:
            return []
        self._next_claim = now + max(1.0, self.claim_idle_ms / 2000)
        resp: Any = self.redis.xautoclaim(
            self.stream, GROUP, self.consumer, self.claim_idle_ms, "0-0", count=self.batch_size
        )
        claimed = [(eid, fields) for eid, fields in resp[1] if fields]
        if claimed:
            logger.info("claimed %d entries from a stalled recorder", len(claimed))
        return claimed

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if self.spool_dir is not None and now >= self._next_spool:
            self._next_spool = now + 5.0
            moved = replay_spool(self.redis, self.stream, self.spool_dir)
            if moved:
                logger.info("replayed %d spooled entries into the stream", moved)
        if self.heartbeat_target is not None and now >= self._next_heartbeat:
            self._next_heartbeat = now + self.heartbeat_seconds
            worker, agent_types = self.heartbeat_target
            try:
                self.store.heartbeat(worker, agent_types)
            except PersistenceError as exc:
                logger.warning("heartbeat not recorded: %s", exc)

    # --- decoding and writing ------------------------------------------------------
    def _process(self, entries: list[Entry]) -> None:
        odd = [(e, why) for e in entries if (why := repeated_reason(e[1])) is not None]
        if odd:  # what no hook writes: dead-lettered whole, before the batch
            self._done([e for e, _ in odd], 0, odd)
            entries = [e for e in entries if repeated_reason(e[1]) is None]
            if not entries:
                return
        payloads = [fields.get(b"e") for _, fields in entries]
        # Fast path: the entries go to the database as they are, one JSON list, and
        # PostgreSQL decodes and merges them. Instance events (rare) and a batch the
        # database rejects take the slow path, which decodes entry by entry.
        if fast_path_applies(payloads) and self._record_fast(entries, payloads):
            return
        self._process_decoded(entries)

    def _record_fast(self, entries: list[Entry], payloads: list[Any]) -> bool:
        """The batch in one call, undecoded; False when it must be taken apart."""
        try:
            result = self.store.record_wire(wire.join_entries(payloads))
        except DatabaseUnavailable:
            self.stats.db_errors += 1
            raise
        except Exception as exc:  # DataRejected, or anything else: retrying as is would loop
            logger.warning("batch rejected (%s); decoding it entry by entry", reason_of(exc))
            return False
        self.stats.new_events += result.new_events
        self._done(entries, result.received)
        return True

    def _process_decoded(self, entries: list[Entry]) -> None:
        """The slow path: each entry checked, then recorded or dead-lettered on its own."""
        decoded, dead = decode_entries(entries)
        decoded, refused = self._apply_instances(decoded)
        groups: list[Group] = []
        for entry, evs in decoded:
            ts = [ev for ev in evs if isinstance(ev, Transition)]
            if ts:
                groups.append((entry, ts))
        dead += refused + self._record_groups(groups)
        dead_ids = {entry[0] for entry, _ in dead}
        landed = sum(len(ts) for entry, ts in groups if entry[0] not in dead_ids)
        self._done(entries, landed, dead)

    def _apply_instances(self, decoded: list[Decoded]) -> tuple[list[Decoded], list[Dead]]:
        """Apply the instance events; an entry with one the store refuses is dead-lettered."""
        kept: list[Decoded] = []
        dead: list[Dead] = []
        for entry, evs in decoded:
            try:
                for ev in evs:
                    if isinstance(ev, wire.InstanceEvent):
                        self._apply_instance(ev)
            except DatabaseUnavailable:
                self.stats.db_errors += 1
                raise
            except Exception as exc:
                dead.append((entry, refused(exc)))
            else:
                kept.append((entry, evs))
        return kept, dead

    def _apply_instance(self, ev: wire.InstanceEvent) -> None:
        types = list(ev.agent_types)
        self.store.set_instances_status(
            ev.worker, types, ev.status, ev.at, configuration={"queues": types}
        )

    def _record_groups(self, groups: list[Group]) -> list[Dead]:
        """Record the entries' transitions; when the store refuses them, record each half
        on its own, down to single entries: only what it refuses alone is dead-lettered
        (a few bad entries in a batch of n cost about 2 log2(n) calls each)."""
        if not groups:
            return []
        try:
            result = self.store.record([t for _, ts in groups for t in ts])
        except DatabaseUnavailable:  # nothing is dead-lettered during an outage: all wait
            self.stats.db_errors += 1
            raise
        except Exception as exc:
            if len(groups) == 1:
                return [(groups[0][0], refused(exc))]
        else:
            self.stats.new_events += result.new_events
            return []
        half = len(groups) // 2
        return self._record_groups(groups[:half]) + self._record_groups(groups[half:])

    def _done(self, entries: list[Entry], transitions: int, dead: Sequence[Dead] = ()) -> None:
        # Dead letters first, in their own round trip: an entry is never acknowledged
        # without its dead letter (at worst a retried batch writes one twice).
        self._dead_letter(dead)
        self._ack([eid for eid, _ in entries])
        self._note_lag(entries)
        self.stats.batches += 1
        self.stats.entries += len(entries)
        self.stats.transitions += transitions

    def _note_lag(self, entries: list[Entry]) -> None:
        """Hook → committed, per entry: a stream entry id starts with its XADD time (ms)."""
        now_ms = time.time() * 1000
        lags = self.stats.lag_seconds
        lags.extend((now_ms - int(eid.split(b"-", 1)[0])) / 1000 for eid, _ in entries if eid)
        if len(lags) > 100_000:
            del lags[: len(lags) - 100_000]

    def _dead_letter(self, dead: Sequence[Dead]) -> None:
        if not dead:
            return
        pipe = self.redis.pipeline(transaction=False)
        for (eid, fields), reason in dead:
            logger.error(
                "dead-lettered recording entry %s: %s",
                eid.decode(errors="replace"),
                reason,
                extra={"action": "dead_letter"},
            )
            pipe.xadd(self.dead_stream, dead_letter_fields(eid, fields, reason))
        pipe.execute()
        self.stats.dead_letters += len(dead)

    def _ack(self, ids: list[bytes]) -> None:
        if not ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.stream, GROUP, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.hset(self.progress_key, mapping={"at": time.time(), "consumer": self.consumer})
        pipe.hincrby(self.progress_key, "entries", len(ids))
        acked, deleted, *marker = pipe.execute(raise_on_error=False)
        for reply in (acked, deleted):
            if isinstance(reply, Exception):
                raise reply
        if any(isinstance(r, Exception) for r in marker):
            # Redis refuses writes when out of memory, but not XACK / XDEL, which free it.
            logger.warning("progress marker not set: %s", marker)
