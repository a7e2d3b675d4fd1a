"""The recorder: drains the recording stream into the store, in batches.

It reads the Redis stream as one consumer of the ``recorders`` group, so any
number of recorders (one embedded in every worker by default, or ``agentq
recorder`` processes) share the work. An entry is acknowledged and deleted only
after its batch is committed; entries a dead recorder had read are claimed by
another after ``claim_idle_ms``. While the database is down the recorder keeps
the batch and retries with backoff: the stream (and the spool, when Redis itself
was down) holds everything meanwhile, so no accepted transition is lost.

Malformed entries and transitions the database rejects (a CHECK, a bad enum) go
to the dead-letter stream ``<stream>:dead`` with the reason; they never block the
others.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from persistence import wire
from persistence.errors import DatabaseUnavailable, DataRejected, PersistenceError
from persistence.lifecycle import Transition
from persistence.store import Store
from workers import events
from workers.sink import replay_spool

logger = logging.getLogger(__name__)

GROUP = "recorders"
_INSTANCE_MARK = b'"k":"i"'  # as orjson writes it: an entry holding an instance event
Entry = tuple[bytes, dict[bytes, bytes]]


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
        block_ms: int = 50,
        batch_window_ms: int = 0,
        claim_idle_ms: int = 30_000,
        spool_dir: Path | None = None,
        heartbeat: tuple[str, Sequence[str]] | None = None,
        heartbeat_seconds: float = 10.0,
        max_backoff: float = 5.0,
    ) -> None:
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        self.store = store
        self.stream = stream
        self.dead_stream = stream + ":dead"
        self.consumer = consumer or f"{socket.gethostname()}-{id(self):x}"
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.batch_window = batch_window_ms / 1000
        self._last_batch = 0.0
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
        if entries:
            self._process(entries)
            self._last_batch = time.monotonic()
        return len(entries)

    def _wait_for_window(self) -> None:
        """Let a batch gather for ``batch_window`` after the previous one.

        Fewer, larger batches cost far less per transition (the statements are
        set-based, and a task's four transitions then usually land in one batch, so its
        row is inserted once instead of inserted and updated); the price is that much
        extra recording lag.
        """
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
        self._group_ready = True

    def _read(self, last_id: str, block: bool = False) -> list[Entry]:
        resp: Any = self.redis.xreadgroup(
            GROUP,
            self.consumer,
            {self.stream: last_id},
            count=self.batch_size,
            block=self.block_ms if block else None,
        )
        if not resp:
            return []
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
        payloads = [fields.get(b"e", b"") for _, fields in entries]
        # Fast path: the entries go to the database as they are, one JSON list, and
        # PostgreSQL decodes and merges them. Instance events (rare) and a batch the
        # database rejects take the slow path, which decodes entry by entry.
        if not any(_INSTANCE_MARK in p for p in payloads):
            try:
                result = self.store.record_wire(wire.join_entries(payloads))
            except DatabaseUnavailable:
                self.stats.db_errors += 1
                raise
            except DataRejected as exc:
                logger.warning("batch rejected (%s); decoding it entry by entry", exc)
            else:
                self.stats.new_events += result.new_events
                self._done(entries, result.received)
                return
        self._process_decoded(entries)

    def _process_decoded(self, entries: list[Entry]) -> None:
        transitions: list[Transition] = []
        instance_events: list[dict[str, Any]] = []
        dead: list[tuple[Entry, str]] = []
        for entry in entries:
            try:
                for ev in events.decode(entry[1].get(b"e", b"")):
                    if ev.get("k") == events.KIND_INSTANCE:
                        instance_events.append(ev)
                    else:
                        transitions.append(events.to_transition(ev))
            except events.BadEvent as exc:
                dead.append((entry, str(exc)))
        for ev in instance_events:
            self._apply_instance(ev)
        if transitions:
            dead.extend(self._record(transitions))
        self._dead_letter(dead)
        self._done(entries, len(transitions))

    def _done(self, entries: list[Entry], transitions: int) -> None:
        self._ack([eid for eid, _ in entries])
        self._note_lag(entries)
        self.stats.batches += 1
        self.stats.entries += len(entries)
        self.stats.transitions += transitions

    def _record(self, transitions: list[Transition]) -> list[tuple[Entry, str]]:
        """Record; on a rejected batch, record one by one and return the rejected ones."""
        try:
            result = self.store.record(transitions)
            self.stats.new_events += result.new_events
            return []
        except DatabaseUnavailable:
            self.stats.db_errors += 1
            raise
        except DataRejected as exc:
            logger.warning("batch rejected (%s); isolating the bad transitions", exc)
        rejected: list[tuple[Entry, str]] = []
        for t in transitions:
            try:
                self.stats.new_events += self.store.record([t]).new_events
            except DataRejected as exc:
                fake: Entry = (b"", {b"e": wire.encode([wire.to_wire(t)])})
                rejected.append((fake, f"rejected by the database: {exc}"))
        return rejected

    def _note_lag(self, entries: list[Entry]) -> None:
        """Hook → committed, per entry: a stream entry id starts with its XADD time (ms)."""
        now_ms = time.time() * 1000
        lags = self.stats.lag_seconds
        lags.extend((now_ms - int(eid.split(b"-", 1)[0])) / 1000 for eid, _ in entries if eid)
        if len(lags) > 100_000:
            del lags[: len(lags) - 100_000]

    def _apply_instance(self, ev: dict[str, Any]) -> None:
        try:
            self.store.set_instances_status(
                str(ev["w"]),
                [str(a) for a in ev["types"]],
                str(ev["s"]),
                datetime.fromtimestamp(float(ev["at"]), UTC),
                configuration={"queues": ev.get("types")},
            )
        except DataRejected as exc:
            self._dead_letter([((b"", {b"e": events.encode([ev])}), str(exc))])
        except (KeyError, TypeError, ValueError) as exc:
            self._dead_letter([((b"", {b"e": events.encode([ev])}), f"bad instance event: {exc}")])

    def _dead_letter(self, dead: list[tuple[Entry, str]]) -> None:
        if not dead:
            return
        pipe = self.redis.pipeline(transaction=False)
        for (eid, fields), reason in dead:
            logger.error(
                "dead-lettered a recording entry: %s", reason, extra={"action": "dead_letter"}
            )
            pipe.xadd(
                self.dead_stream,
                {"e": fields.get(b"e", b""), "reason": reason, "entry": eid or b""},
            )
        pipe.execute()
        self.stats.dead_letters += len(dead)

    def _ack(self, ids: list[bytes]) -> None:
        if not ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.stream, GROUP, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.execute()
