"""One error root for the persistence layer; driver errors are translated here only."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import sqlalchemy.exc

from persistence.formatting import first_line


class PersistenceError(Exception):
    """Something went wrong storing or reading lifecycle data."""


class DatabaseUnavailable(PersistenceError):
    """The database cannot be reached right now; the same call may succeed later."""


class SchemaNotReady(DatabaseUnavailable):
    """The database answers but lacks our tables or functions, or the rights to them."""


class DataRejected(PersistenceError):
    """The database refused the data itself (a CHECK, a type): retrying will not help."""


# SQLSTATE classes that are about the data sent, so the same call fails again: 22 data
# exception (bad value, out of range, bad JSON, NUL), 23 integrity (CHECK, NOT NULL, FK),
# 54 program limit (too large, nested too deep). psycopg files class 54 under
# OperationalError, which would otherwise read as an outage and be retried forever.
DATA_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
# A database that is not (yet) migrated or not ours to write: waiting for it is right, and
# the recorder must not dead-letter every entry meanwhile. undefined table / function /
# object (type), invalid schema, insufficient privilege.
SCHEMA_SQLSTATES = frozenset({"42P01", "42883", "42704", "3F000", "42501"})


_MISSING_DATABASE = re.compile(r'database "[^"]*" does not exist')


@contextlib.contextmanager
def wrap_db_errors() -> Iterator[None]:
    """Translate SQLAlchemy / psycopg errors into this module's hierarchy, keeping the cause."""
    try:
        yield
    except sqlalchemy.exc.DBAPIError as exc:
        raise _translate(exc) from exc


def _translate(exc: sqlalchemy.exc.DBAPIError) -> PersistenceError:
    if _MISSING_DATABASE.search(str(exc.orig)):
        # Connection errors carry no SQLSTATE in psycopg: the server's text is all there is.
        return SchemaNotReady(f"{_first_line(exc)}: run `agentq migrate` (it creates it)")
    if _sqlstate(exc) in SCHEMA_SQLSTATES:
        return SchemaNotReady(f"{_first_line(exc)} (is the database migrated? agentq migrate)")
    if not exc.connection_invalidated and _sqlstate(exc)[:2] in DATA_SQLSTATE_CLASSES:
        return DataRejected(_first_line(exc))
    if exc.connection_invalidated or isinstance(
        exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
    ):
        return DatabaseUnavailable(_first_line(exc))
    return DataRejected(_first_line(exc))


def _sqlstate(exc: sqlalchemy.exc.DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return first_line(str(orig)) or type(orig).__name__
