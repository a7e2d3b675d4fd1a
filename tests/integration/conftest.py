"""Fixtures the integration modules share (the session's database and Redis are in
tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.soketi import SoketiServer, running_soketi


@pytest.fixture(scope="module")
def soketi() -> Iterator[SoketiServer]:
    """A real Pusher-protocol server for the module (skipped without ``npm install``)."""
    yield from running_soketi()
