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
def queries() -> dict[str, str]:
    """The named blocks of ``queries.sql``: ``-- name: <name>`` starts a block."""
    out: dict[str, str] = {}
    for block in re.split(r"^-- name: ", read_sql("queries.sql"), flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        out[name.strip()] = body.strip()
    return out
