"""The dual database: write the primary first, mirror to the secondary (Supabase).

A mirror write is tried with retries and exponential backoff
(``SUPABASE_MAX_RETRIES``, ``SUPABASE_RETRY_DELAY``; each attempt bounded by the
backend's own timeout, ``SUPABASE_CONNECTION_TIMEOUT``) through a circuit breaker
(pybreaker). What the mirror did not take goes to the outbox *in the primary*
(:mod:`persistence.outbox`), and beat replays it in order once the mirror is back.
While the outbox holds anything, new writes queue behind it instead of overtaking
it, so the mirror sees the calls in the primary's order. Nothing here raises
because of the mirror: a caller only sees errors of the primary (the recorder then
retries the whole batch, which both databases take idempotently).
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import pybreaker
import tenacity

from persistence import outbox
from persistence import records as r
from persistence.errors import DatabaseUnavailable, DataRejected, PersistenceError
from persistence.metrics import metrics_rows
from persistence.sql_store import HasEngine
from persistence.store import RecordResult, Store, WireRecording

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from persistence.sql_records import SQLRecords
    from persistence.sql_store import SQLStore

logger = logging.getLogger(__name__)

# The record calls a replayed 'call' row may name (the writes; reads never queue).
WRITE_CALLS = frozenset(
    {
        "create_agent_instance",
        "update_agent_instance",
        "create_task_execution",
        "update_task_execution",
        "store_agent_metrics",
        "store_system_health",
    }
)


class MirrorUnavailable(DatabaseUnavailable):
    """The mirror did not take the write: down, too slow, or its breaker is open."""


class MirrorGuard:
    """Retries with exponential backoff around a circuit breaker, for one mirror.

    Parameters
    ----------
    max_retries, retry_delay, max_delay:
        Retries after the first attempt, the first wait, and the longest wait (seconds);
        waits double: retry_delay, 2 x, 4 x ... Only "unavailable" errors are retried.
    breaker_failures, breaker_reset:
        Failed attempts in a row that open the breaker, and seconds it stays open
        before one trial call (half-open). Refused data does not count.
    """

    def __init__(
        self,
        *,
        max_retries: int = 3,
        retry_delay: float = 5.0,
        max_delay: float = 60.0,
        breaker_failures: int = 3,
        breaker_reset: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=breaker_failures,
            reset_timeout=breaker_reset,
            exclude=[DataRejected, ValueError],
            name="supabase-mirror",
        )

    @property
    def state(self) -> str:
        """closed (writing), open (not trying) or half-open (one trial call)."""
        return str(self.breaker.current_state)

    def call(self, fn: Callable[..., Any], *args: Any, retries: bool = True) -> Any:
        """``fn(*args)`` against the mirror; :class:`MirrorUnavailable` when it cannot
        take it, :class:`DataRejected` when it refuses the data."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(1 + (self.max_retries if retries else 0)),
            wait=tenacity.wait_exponential(multiplier=self.retry_delay, max=self.max_delay),
            retry=tenacity.retry_if_exception_type(DatabaseUnavailable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self.breaker.call, fn, *args)
        except pybreaker.CircuitBreakerError:
            raise MirrorUnavailable("mirror circuit breaker open") from None
        except DatabaseUnavailable as exc:
            raise MirrorUnavailable(str(exc)) from exc


class EffectTarget(Protocol):
    """Where beat's effects land in the mirror (``persistence/mirror_effects.py``):
    SQLRecords on a Supabase SQL store, or the REST store's methods of the same names."""

    def put_agent_metrics(self, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def put_system_health(self, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def mark_instances_offline(self, agent_ids: Sequence[str]) -> None: ...

    def delete_rows(self, table: str, keys: Sequence[str]) -> None: ...


class Mirror:
    """The secondary database, its guard, and the outbox kept in the primary.

    ``store`` takes lifecycle writes (``record_wire``, ``set_instances_status``,
    ``heartbeat``); ``records`` takes the integration design's record calls. ``primary`` is
    anything with an SQLAlchemy ``engine`` (the primary SQLStore).
    """

    def __init__(
        self, store: Store, records: EffectTarget, primary: HasEngine, guard: MirrorGuard
    ) -> None:
        self.store = store
        self.records = records
        self.primary = primary
        self.guard = guard

    def __repr__(self) -> str:
        return f"Mirror({self.store!r}, breaker={self.guard.state})"

    def write(self, op: str, payload: dict[str, Any], items: int, fn: Callable[[], Any]) -> bool:
        """Mirror one call now, or queue it in the outbox; True when the mirror took it.

        Raises only errors of the primary (the outbox append)."""
        try:
            if outbox.has_backlog(self.primary):
                reason = "behind: the outbox is not empty"
            else:
                self.guard.call(fn)
                return True
        except PersistenceError as exc:  # MirrorUnavailable, DataRejected, outbox check
            reason = str(exc)
        except Exception as exc:  # a bug in a backend must not fail the primary's caller
            reason = f"{type(exc).__name__}: {exc}"
        outbox.append(self.primary, op, payload, items)
        logger.info(
            "mirror write queued in the outbox (%s)",
            reason,
            extra={"action": "mirror_queued", "op": op, "items": items},
        )
        return False

    def apply(self, op: str, payloads: list[dict[str, Any]]) -> None:
        """Replay outbox rows of one kind (the callback of :func:`outbox.replay`)."""
        try:
            self._apply(op, payloads)
        except (ValueError, TypeError, KeyError) as exc:  # a row no backend can take
            raise DataRejected(f"bad outbox row: {type(exc).__name__}: {exc}") from exc

    def _apply(self, op: str, payloads: list[dict[str, Any]]) -> None:
        if op == outbox.OP_RECORD:
            events = [ev for p in payloads for ev in p["events"]]
            self.guard.call(self.store.record_wire, orjson.dumps(events), retries=False)
            return
        for p in payloads:
            if op in outbox.EFFECT_OPS:
                self.guard.call(self._effect, op, p, retries=False)
            elif op == outbox.OP_INSTANCES:
                at = datetime.fromisoformat(p["at"])
                args = (p["worker"], p["agent_types"], p["status"], at, p.get("configuration"))
                self.guard.call(self.store.set_instances_status, *args, retries=False)
            elif op == outbox.OP_HEARTBEAT:
                self.guard.call(self.store.heartbeat, p["worker"], p["agent_types"], retries=False)
            elif op == outbox.OP_CALL and p.get("method") in WRITE_CALLS:
                method = functools.partial(
                    getattr(self.records, p["method"]), **p.get("kwargs", {})
                )
                self.guard.call(method, *p["args"], retries=False)
            else:
                raise DataRejected(f"unknown outbox row {op!r} {p.get('method', '')!r}")

    def effect(self, op: str, payload: dict[str, Any], items: int) -> bool:
        """Mirror one of beat's effects (``outbox.EFFECT_OPS``) now, or queue it."""
        return self.write(op, payload, items, lambda: self._effect(op, payload))

    def _effect(self, op: str, p: dict[str, Any]) -> None:
        if op == outbox.OP_METRICS:
            self.records.put_agent_metrics(p["rows"])
        elif op == outbox.OP_HEALTH:
            self.records.put_system_health(p["rows"])
        elif op == outbox.OP_OFFLINE:
            self.records.mark_instances_offline(p["agent_ids"])
        elif op == outbox.OP_PURGE:
            self.records.delete_rows(p["table"], p["keys"])
        else:
            raise DataRejected(f"unknown effect {op!r}")

    def replay(self, *, chunk: int = 200, budget_s: float = 20.0) -> outbox.ReplayResult:
        """Replay the outbox now. An open breaker stops it at the first row (pybreaker
        lets one trial call through once ``breaker_reset`` has passed)."""
        return outbox.replay(self.primary, self.apply, chunk=chunk, budget_s=budget_s)

    def close(self) -> None:
        for target in {id(self.store): self.store, id(self.records): self.records}.values():
            close = getattr(target, "close", None)
            if close is not None:
                close()


class MirroredStore(WireRecording):
    """A :class:`persistence.store.Store` writing ``primary`` (an SQLStore), then the mirror.

    Reads come from the primary. ``engine`` is the primary's, so everything that takes
    an SQLStore (health, metrics, beat) works on it unchanged.
    """

    def __init__(self, primary: SQLStore, mirror: Mirror) -> None:
        self.primary = primary
        self.mirror = mirror

    def __repr__(self) -> str:
        return f"MirroredStore({self.primary!r}, {self.mirror!r})"

    @property
    def engine(self) -> Engine:
        return self.primary.engine

    def record_wire(self, batch: bytes) -> RecordResult:
        result: RecordResult = self.primary.record_wire(batch)
        events = orjson.loads(batch)
        self.mirror.write(
            outbox.OP_RECORD,
            {"events": events},
            len(events),
            lambda: self.mirror.store.record_wire(batch),
        )
        return result

    def set_instances_status(
        self,
        worker: str,
        agent_types: Sequence[str],
        status: str,
        at: datetime,
        configuration: dict[str, Any] | None = None,
    ) -> None:
        self.primary.set_instances_status(worker, agent_types, status, at, configuration)
        args = (worker, list(agent_types), status, at, configuration)
        payload = {
            "worker": worker,
            "agent_types": list(agent_types),
            "status": status,
            "at": at.isoformat(),
            "configuration": r.jsonable(configuration),
        }
        self.mirror.write(
            outbox.OP_INSTANCES, payload, 1, lambda: self.mirror.store.set_instances_status(*args)
        )

    def heartbeat(self, worker: str, agent_types: Sequence[str]) -> None:
        self.primary.heartbeat(worker, agent_types)
        # Queued too: a heartbeat also brings an offline instance back to idle. Replayed,
        # it stamps the mirror's own now(), as every heartbeat does.
        payload = {"worker": worker, "agent_types": list(agent_types)}
        self.mirror.write(
            outbox.OP_HEARTBEAT,
            payload,
            1,
            lambda: self.mirror.store.heartbeat(worker, list(agent_types)),
        )

    def get_execution(self, task_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.primary.get_execution(task_id)
        return result

    def close(self) -> None:
        self.primary.close()
        self.mirror.close()


class MirroredRecords:
    """The integration design's record calls on the primary, mirrored (see :class:`Mirror`)."""

    def __init__(self, primary: SQLRecords, mirror: Mirror) -> None:
        self.primary = primary
        self.mirror = mirror

    def __repr__(self) -> str:
        return f"MirroredRecords({self.primary!r}, {self.mirror!r})"

    def __getattr__(self, name: str) -> Any:
        # Reads (get_*, ping) go to the primary only.
        return getattr(self.primary, name)

    def _write(self, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = getattr(self.primary, method)(*args, **kwargs)
        if method.startswith("create_") and result:
            # The mirror gets the primary's now() stamps, so both rows are equal.
            stamps = {k: result[k] for k in r.STAMPED if k in result and k not in args[0]}
            args = ({**args[0], **stamps},)
        payload: dict[str, Any] = {"method": method, "args": r.jsonable(list(args))}
        if kwargs:
            payload["kwargs"] = r.jsonable(kwargs)
        self.mirror.write(
            outbox.OP_CALL,
            payload,
            1,
            lambda: getattr(self.mirror.records, method)(*args, **kwargs),
        )
        return result

    def create_agent_instance(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return self._write("create_agent_instance", dict(data))

    def update_agent_instance(self, agent_id: str, updates: Mapping[str, Any]) -> dict[str, Any]:
        return self._write("update_agent_instance", agent_id, dict(updates))

    def create_task_execution(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return self._write("create_task_execution", dict(data))

    def update_task_execution(
        self,
        task_id: str,
        updates: Mapping[str, Any],
        *,
        event_id: str | uuid.UUID | None = None,
        at: str | datetime | None = None,
    ) -> dict[str, Any]:
        if "status" not in updates:
            return self._write("update_task_execution", task_id, dict(updates))
        # A status is a transition: one event id and time for both databases' history.
        stamp = {
            "event_id": str(event_id or uuid.uuid4()),
            "at": r.jsonable(at or datetime.now(UTC)),
        }
        return self._write("update_task_execution", task_id, dict(updates), **stamp)

    # Metric and health rows reach the mirror whole, with the primary's ids (as beat's do).
    def store_agent_metrics(self, data: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.primary.store_agent_metrics(dict(data))
        rows = metrics_rows(self.primary.engine, [result["id"]])
        self.mirror.effect(outbox.OP_METRICS, {"rows": rows}, len(rows))
        return result

    def store_system_health(self, data: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.primary.store_system_health(dict(data))
        self.mirror.effect(outbox.OP_HEALTH, {"rows": [result]}, 1)
        return result
