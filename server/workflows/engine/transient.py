"""Which failures of a workflow step are transient: the step is run again, not failed.

Every step converges when run again, so a fault of the database connection under it (the
backend terminated, the server restarting, the network dropped) or a transaction the server
chose to abort (a serialization failure, a deadlock) is retried with a capped exponential
backoff; anything else fails the run as before.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, DisconnectionError

# SQLSTATEs: connection exceptions (class 08), admin/crash shutdown and "cannot connect now"
# (57P01-57P03), serialization failure (40001) and deadlock detected (40P01).
TRANSIENT_CLASSES = ("08",)
TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01"})
# Driver errors without a SQLSTATE: the connection died under the statement.
DRIVER_DISCONNECTS = ("OperationalError", "InterfaceError")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_transient(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is a dropped connection, an aborted
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


def _transient_driver_error(error: BaseException) -> bool:
    state = _sqlstate(error)
    if state is not None:
        return state[:2] in TRANSIENT_CLASSES or state in TRANSIENT_STATES
    name, module = type(error).__name__, type(error).__module__
    if module.startswith("psycopg") and name in DRIVER_DISCONNECTS:
        return True  # e.g. "server closed the connection unexpectedly": no SQLSTATE
    return module == "sqlite3" and name == "OperationalError" and "locked" in str(error)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before re-run ``attempt`` (1, 2, ...): base, 2·base, 4·base... ≤ cap."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))
