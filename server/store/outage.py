"""Telling a transient database fault (one a retry may get past) from any other error.

One classifier serves the pipeline and HTTP authentication (answer ``Unavailable``: retry the
call) and the workflow worker (run the step again): a dropped or refused connection, a server
shutting down, a transaction the server aborted and asks to retry, SQLite's busy database.
A statement's own error (a type mismatch, a program limit, a cancelled statement) is not one,
even when the driver raises it as an ``OperationalError``.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, DisconnectionError

from paybill.server.core.errors import Unavailable

# SQLSTATEs: connection exceptions (class 08), admin/crash shutdown and "cannot connect now"
# (57P01-57P03), too many connections (53300), serialization failure (40001) and deadlock
# detected (40P01).
TRANSIENT_CLASSES = ("08",)
TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})
# Driver errors without a SQLSTATE: the connection failed to open, or died under the statement.
DRIVER_DISCONNECTS = ("OperationalError", "InterfaceError")


def is_transient(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is a dropped or refused connection, an aborted
    transaction the server asks to retry, or SQLite's busy database."""
    for link in _chain(error):
        if isinstance(link, DisconnectionError):
            return True
        if isinstance(link, DBAPIError):
            if link.connection_invalidated:
                return True
            if link.orig is not None and _transient_driver_error(link.orig):
                return True
        elif _transient_driver_error(link):
            return True
    return False


def unavailable(exc: BaseException) -> Unavailable | None:
    """The typed error for a transient database fault, or None for anything else."""
    return Unavailable() if is_transient(exc) else None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transient_driver_error(error: BaseException) -> bool:
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str):
        return state[:2] in TRANSIENT_CLASSES or state in TRANSIENT_STATES
    name, module = type(error).__name__, type(error).__module__
    if module.startswith("psycopg") and name in DRIVER_DISCONNECTS:
        return True  # "connection failed", "server closed the connection": no SQLSTATE
    return module == "sqlite3" and name == "OperationalError" and "locked" in str(error)
