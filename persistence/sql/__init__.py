"""SQL is data: the schema revisions and the named queries live in ``.sql`` files here."""

from __future__ import annotations

import functools
import re
from pathlib import Path

_HERE = Path(__file__).parent


@functools.cache
def read_sql(name: str) -> str:
    """The text of ``persistence/sql/<name>``."""
    return (_HERE / name).read_text()


@functools.cache
def queries(filename: str = "queries.sql") -> dict[str, str]:
    """The named blocks of ``filename`` (``queries.sql`` by default): ``-- name: <name>``
    starts a block. One file per concern (recording, metrics, health …)."""
    out: dict[str, str] = {}
    for block in re.split(r"^-- name: ", read_sql(filename), flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        out[name.strip()] = body.strip()
    return out


CURRENT = ("current/functions.sql", "current/triggers.sql")


def current_definition(name: str) -> str:
    """The current ``CREATE OR REPLACE`` statement of function or trigger ``name``, from
    ``persistence/sql/current/``: what a migration that changes it executes."""
    for filename in CURRENT:
        found = queries(filename).get(name)
        if found is not None:
            return found
    raise KeyError(f"no function or trigger {name!r} in persistence/sql/current/")
