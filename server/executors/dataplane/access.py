"""Tenant-scoped transactions: the only way tenant rows are read or written.

On PostgreSQL every transaction pins ``search_path`` to the tenant's schema, sets
``app.tenant_id``, applies a ``statement_timeout`` and is read-only for reads, all in one
transaction-local ``set_config`` statement. The connection logs in as the tenant's own
role (no superuser, no BYPASSRLS, not the owner, member of no other role), so row-level
security and grants hold even if the SQL guard were wrong. On SQLite, reads run with
``query_only`` and a time budget.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, LiteralString

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, OperationalError

from paybill.server.core.errors import QuotaExceeded, too_large
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import TenantRoute

# Entered before a tenant connection is taken and held until it is returned. A tool call's
# gate (``Call.tenant_work``) ends the call's store transaction, so no store lock or store
# connection is held while a tenant statement runs, and takes one of the tenant's
# concurrency slots. Required, so no caller can forget to decide. It is told whether the
# transaction only reads: a tool call keeps its key in flight after a committed write.
Gate = Callable[[TenantRoute, bool], AbstractContextManager[object]]


def ungated(_route: TenantRoute, _read_only: bool) -> AbstractContextManager[object]:
    """The gate of callers outside a tool call (workflow steps, the CLI)."""
    return nullcontext()


@contextmanager
def tenant_transaction(
    engines: Engines,
    route: TenantRoute,
    *,
    read_only: bool,
    timeout_ms: int,
    gate: Gate,
    max_value_bytes: int | None = None,
) -> Iterator[Connection]:
    """Yield a connection inside a transaction scoped to ``route``'s tenant; commit on exit.

    On SQLite, which runs inside this process, a read with ``max_value_bytes`` may build no
    string or blob longer than four times that (a character takes up to four bytes): an
    aggregate over a cross join would otherwise take the server's memory with it.

    Raises:
        QuotaExceeded: the statement ran past ``timeout_ms``, built a value past the bound,
            or ``gate`` refused.
    """
    engine = engines.for_tenant(route, read_only=read_only)
    try:
        with gate(route, read_only), engine.connect() as conn:
            if engines.postgres:
                with conn.begin():
                    _scope_postgres(conn, route, read_only, timeout_ms)
                    yield conn
            else:
                limit = 4 * max_value_bytes + 1024 if read_only and max_value_bytes else None
                with _sqlite_budget(conn, read_only, timeout_ms, limit), conn.begin():
                    yield conn
    except DataError as exc:
        if max_value_bytes and "too big" in str(exc.orig):
            raise too_large(max_value_bytes) from None
        raise
    except OperationalError as exc:
        if _timed_out(exc):
            raise QuotaExceeded(
                f"The statement ran longer than {timeout_ms} ms and was cancelled; narrow it "
                "with filters or a smaller limit.",
                timeout_ms=timeout_ms,
            ) from None
        raise


# One round trip scopes the transaction, every setting transaction-local (``is_local``) so
# nothing outlives it on the pooled connection. Going read-only is allowed at any point of a
# transaction (only going back to read-write is not), so it needs no SET TRANSACTION first.
_SCOPE: LiteralString = (
    "SELECT set_config('search_path', %(schema)s, true), "
    "set_config('app.tenant_id', %(t)s, true), "
    "set_config('statement_timeout', %(timeout)s, true)"
)
_SCOPE_READ_ONLY: LiteralString = _SCOPE + ", set_config('transaction_read_only', 'on', true)"


def _scope_postgres(conn: Connection, route: TenantRoute, read_only: bool, timeout_ms: int) -> None:
    """Sent on the driver's cursor: SQLAlchemy's execution machinery costs more CPU than
    the round trip. The driver opens the transaction with it (the connection does not
    autocommit), the one ``conn.begin()`` commits or rolls back."""
    params = {"schema": route.schema, "t": route.tenant_id, "timeout": str(int(timeout_ms))}
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("a PostgreSQL tenant connection is a psycopg connection")
    with driver.cursor() as cursor:
        cursor.execute(_SCOPE_READ_ONLY if read_only else _SCOPE, params)


@contextmanager
def _sqlite_budget(
    conn: Connection, read_only: bool, timeout_ms: int, max_length: int | None
) -> Iterator[None]:
    raw: Any = conn.connection.driver_connection
    deadline = time.monotonic() + timeout_ms / 1000
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    if read_only:
        raw.execute("PRAGMA query_only = ON")
    length = sqlite3.SQLITE_LIMIT_LENGTH
    previous = raw.setlimit(length, max_length) if max_length else None
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)
        if previous is not None:
            raw.setlimit(length, previous)
        if read_only:
            raw.execute("PRAGMA query_only = OFF")


def _timed_out(exc: OperationalError) -> bool:
    text_ = str(exc.orig).lower()
    return "statement timeout" in text_ or "interrupted" in text_
