"""Tenant-scoped transactions: the only way tenant rows are read or written.

On PostgreSQL every transaction pins ``search_path`` to the tenant's schema, sets
``app.tenant_id`` (both with ``set_config(..., true)``: transaction-local), applies a
``statement_timeout`` and is READ ONLY for reads. The connection logs in as the tenant's own
role (no superuser, no BYPASSRLS, not the owner, member of no other role), so row-level
security and grants hold even if the SQL guard were wrong. On SQLite, reads run with
``query_only`` and a time budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from paybill.server.core.errors import QuotaExceeded
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
    engines: Engines, route: TenantRoute, *, read_only: bool, timeout_ms: int, gate: Gate
) -> Iterator[Connection]:
    """Yield a connection inside a transaction scoped to ``route``'s tenant; commit on exit.

    Raises:
        QuotaExceeded: the statement ran past ``timeout_ms``, or ``gate`` refused.
    """
    engine = engines.for_tenant(route, read_only=read_only)
    try:
        with gate(route, read_only), engine.connect() as conn:
            if engines.postgres:
                with conn.begin():
                    _scope_postgres(conn, route, read_only, timeout_ms)
                    yield conn
            else:
                with _sqlite_budget(conn, read_only, timeout_ms), conn.begin():
                    yield conn
    except OperationalError as exc:
        if _timed_out(exc):
            raise QuotaExceeded(
                f"The statement ran longer than {timeout_ms} ms and was cancelled; narrow it "
                "with filters or a smaller limit.",
                timeout_ms=timeout_ms,
            ) from None
        raise


def _scope_postgres(conn: Connection, route: TenantRoute, read_only: bool, timeout_ms: int) -> None:
    if read_only:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
    conn.execute(
        text(
            "SELECT set_config('search_path', :schema, true), set_config('app.tenant_id', :t, true)"
        ),
        {"schema": route.schema, "t": route.tenant_id},
    )


@contextmanager
def _sqlite_budget(conn: Connection, read_only: bool, timeout_ms: int) -> Iterator[None]:
    raw: Any = conn.connection.driver_connection
    deadline = time.monotonic() + timeout_ms / 1000
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    if read_only:
        raw.execute("PRAGMA query_only = ON")
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)
        if read_only:
            raw.execute("PRAGMA query_only = OFF")


def _timed_out(exc: OperationalError) -> bool:
    text_ = str(exc.orig).lower()
    return "statement timeout" in text_ or "interrupted" in text_
