"""How errors and values are shown: one safe line for an exception, JSON defaults.

An error message goes to logs, to dead letters in Redis, to health reports and to
Supabase: it must be one printable line (a driver's message runs over several, with the
SQL), bounded, and free of secrets (a URL's password).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

LINE_MAX_CHARS = 300


def flat(text: str, limit: int = LINE_MAX_CHARS) -> str:
    """``text`` as one line: whitespace runs (line breaks too) as one space, control
    characters and lone surrogates escaped, at most ``limit`` characters."""
    joined = " ".join(text[: limit * 2].split())
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in joined)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def first_line(text: str, limit: int = LINE_MAX_CHARS) -> str:
    """The first non-empty line of ``text`` (a driver's message, without its SQL), flat."""
    return flat(next((ln for ln in text.splitlines() if ln.strip()), ""), limit)


def one_line(exc: BaseException, limit: int = LINE_MAX_CHARS, secrets: tuple[str, ...] = ()) -> str:
    """``Type: message`` as one line of at most ``limit`` characters, with every secret in
    ``secrets`` masked."""
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break an error path
        message = ""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    cls = type(exc)
    ours = cls.__module__.split(".")[0] in ("builtins", "persistence", "workers", "tasks")
    name = cls.__name__ if ours else f"{cls.__module__}.{cls.__name__}"
    return flat(f"{name}: {message.strip() or '(no message)'}", limit)


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for printing: times as ISO 8601, anything else as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
