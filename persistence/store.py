"""The store interface: what the recorder, the producer and the CLI need from a backend.

Backends: :class:`persistence.sql_store.SQLStore` (any PostgreSQL, Supabase's
included) and :class:`tests.support.memory_store.InMemoryStore` (unit tests). Both apply
the lifecycle rule of :mod:`persistence.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from persistence import wire
from persistence.lifecycle import Transition


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What one :meth:`Store.record` call did."""

    received: int
    new_events: int
    executions_created: int
    executions_updated: int


class Store(Protocol):
    def record(self, transitions: Sequence[Transition]) -> RecordResult:
        """Append new transitions to the history and merge them into the executions,
        atomically. Replays (known event ids) change nothing."""

    def record_wire(self, batch: bytes) -> RecordResult:
        """:meth:`record` for a JSON list of wire events (``persistence/wire.py``), as
        the recorder reads them from the stream. Raises :class:`DataRejected` when an
        event is malformed (nothing is recorded then)."""

    def set_instances_status(
        self,
        worker: str,
        agent_types: Sequence[str],
        status: str,
        at: datetime,
        configuration: dict[str, Any] | None = None,
    ) -> None:
        """A worker's own lifecycle for the agent types it serves (one row each)."""

    def heartbeat(self, worker: str, agent_types: Sequence[str]) -> None:
        """Mark the worker's instances alive now."""

    def get_execution(self, task_id: str) -> dict[str, Any] | None:
        """The execution row plus ``history`` (oldest first), or None when unknown."""

    def close(self) -> None:
        """Release connections."""


def agent_id(agent_type: str, worker: str) -> str:
    """``agent_instances.agent_id`` of ``agent_type`` served by ``worker``."""
    return f"{agent_type}@{worker}"


class WireRecording:
    """``record()`` as ``record_wire()`` of the transitions' wire form: for stores whose
    database merges the wire format itself (``agentq_record_batch``)."""

    def record(self, transitions: Sequence[Transition]) -> RecordResult:
        if not transitions:
            return RecordResult(0, 0, 0, 0)
        return self.record_wire(wire.encode(wire.to_wire(t) for t in transitions))

    def record_wire(self, batch: bytes) -> RecordResult:
        raise NotImplementedError
