"""Telling a database that cannot be reached from any other database error."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from paybill.server.core.errors import Unavailable


def unavailable(exc: BaseException) -> Unavailable | None:
    """The typed error for a connection-level failure (refused, dropped, a server restarting,
    a busy SQLite file), or None for anything else.

    The driver classes are the ones PEP 249 reserves for the database's operation rather than
    the statement: ``OperationalError`` and ``InterfaceError``, and a connection SQLAlchemy
    invalidated.
    """
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError):
        return Unavailable()
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return Unavailable()
    return None
