"""One error root for the persistence layer; driver errors are translated here only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy.exc


class PersistenceError(Exception):
    """Something went wrong storing or reading lifecycle data."""


class DatabaseUnavailable(PersistenceError):
    """The database cannot be reached right now; the same call may succeed later."""


class DataRejected(PersistenceError):
    """The database refused the data itself (a CHECK, a type): retrying will not help."""


@contextlib.contextmanager
def wrap_db_errors() -> Iterator[None]:
    """Translate SQLAlchemy / psycopg errors into this module's hierarchy, keeping the cause."""
    try:
        yield
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        raise DatabaseUnavailable(_first_line(exc)) from exc
    except sqlalchemy.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable(_first_line(exc)) from exc
        raise DataRejected(_first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
