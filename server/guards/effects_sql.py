"""The effect of a SQL write (``run_sql`` writes, ``update_rows``, ``delete_rows``): the
statement exactly as it will execute, the rows it touches now (how many, a bounded sample of
their keys, a hash of all of them) and, for update_rows, the values it sets.

An approved write runs only in the tenant transaction that first locked its rows, derived
the effect again from them and found the approved hash, and it must change exactly the
approved number of rows; anything else rolls the transaction back and voids the approval.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection

from paybill.server.domain.effects import SQL_WRITE, Effect, sealed_digest, tenant_facts
from paybill.server.executors.dataplane.access import tenant_transaction
from paybill.server.executors.dataplane.bound_writes import (
    KEY,
    BoundWrite,
    TouchedRows,
    json_value,
    set_values,
    sql_write,
    statement_dialect,
    structured_write,
)
from paybill.server.executors.dataplane.structured import table_for, tenant_rows
from paybill.server.guards.approval import compared, voided
from paybill.server.guards.call import Call
from paybill.server.guards.lifecycle import require_data_state
from paybill.server.guards.sql import statement
from paybill.server.store import Approval

KEY_SAMPLE = 20  # keys of touched rows an effect lists (the first, in key order)


def guarded_write(call: Call) -> BoundWrite:
    """The run_sql write the sql guard accepted, as it will execute on the call's tenant.

    Raises: SqlRejected."""
    return sql_write(statement(call), call.route().tenant_id)


def row_change(call: Call) -> BoundWrite:
    """The update_rows or delete_rows statement of the call, as it will execute.

    Raises: InvalidInput for a table, filter or value the caller may not use."""
    args = call.arguments
    schema = call.visible_schema()
    table = table_for(schema, args.table)
    filters = [(f.column, f.op, f.value) for f in args.filters]
    where = tenant_rows(schema, table, call.target().id, filters)
    given = getattr(args, "values", None)
    values = None if given is None else set_values(schema, args.table, given)
    return structured_write(
        table, where, values, statement_dialect(call.services.engines.shared.dialect)
    )


def write_effect(call: Call, write: BoundWrite, touched: TouchedRows) -> Effect:
    tenant = call.target()
    noun = "row" if touched.count == 1 else "rows"
    where = "from" if write.operation == "DELETE" else "in"
    details: dict[str, Any] = {
        "operation": write.operation,
        "table": write.table,
        "statement": write.statement,
        "params": write.params,
        "rows": touched.count,
        "keys": {
            "columns": [KEY],
            "sample": [json_value(key) for key in touched.sample],
            "more": touched.more,
        },
        "rows_sha256": sealed_digest(call.services.audit.key, touched.sha256),
    }
    if write.values is not None:
        details["values"] = write.values
    return Effect(
        kind=SQL_WRITE,
        summary=f"{write.operation} {touched.count} {noun} {where} {write.table} ({tenant.slug})",
        tenant=tenant_facts(tenant),
        details=details,
    )


def drifted(approval: Approval, now: Effect) -> str | None:
    """Why ``now`` is not the write ``approval`` approved, in words, or None when it is."""
    why = compared(approval, now)
    if why is None:
        return None
    before: dict[str, Any] = (approval.effect or {}).get("details") or {}
    after = now.details
    if before.get("rows") != after.get("rows"):
        approved, now_rows = before.get("rows"), after.get("rows")
        return f"{why}: it would touch {now_rows} rows, not the {approved} approved"
    if before.get("keys") != after.get("keys"):
        return f"{why}: the rows it would touch are not the approved ones"
    if before.get("rows_sha256") != after.get("rows_sha256"):
        return f"{why}: rows it would touch were changed since the approval"
    return why


def _reading(call: Call) -> AbstractContextManager[Connection]:
    """A read-only tenant transaction through the call's gate and statement timeout."""
    return tenant_transaction(
        call.services.engines,
        call.route(),
        read_only=True,
        timeout_ms=call.services.settings.statement_timeout_ms,
        gate=call.tenant_work,
    )


def count_touched(call: Call, write: BoundWrite) -> int:
    """How many rows ``write`` touches now (read-only, through the call's gate)."""
    with _reading(call) as conn:
        return write.count(conn)


class _WriteEffect:
    """Reads the rows a write would touch, read-only, through the call's gates."""

    def bound(self, call: Call) -> BoundWrite:
        raise NotImplementedError

    def derive(self, call: Call, *, preview: bool) -> Effect:
        """Raises: InvalidTransition (the tenant serves no reads), QuotaExceeded (a slot or
        the statement timeout), SqlRejected or InvalidInput (the write itself)."""
        write = self.bound(call)
        require_data_state(call, "read")
        with _reading(call) as conn:
            touched = write.touched(conn, sample=KEY_SAMPLE, lock=False)
        return write_effect(call, write, touched)

    def drift(self, call: Call, approval: Approval) -> str | None:
        return drifted(approval, self.derive(call, preview=False))


class SqlWriteEffect(_WriteEffect):
    """run_sql writes (rule sql_write)."""

    def bound(self, call: Call) -> BoundWrite:
        return guarded_write(call)


class RowChangeEffect(_WriteEffect):
    """update_rows and delete_rows (rule bulk_change)."""

    def bound(self, call: Call) -> BoundWrite:
        return row_change(call)


class _Drift(Exception):
    """Rolls the write's tenant transaction back: what it would change is not approved."""

    def __init__(self, approval: Approval, why: str) -> None:
        super().__init__(why)
        self.approval, self.why = approval, why


def execute_write(call: Call, write: BoundWrite) -> int:
    """Run ``write`` in one tenant transaction and return the rows it changed. For an
    approved call the touched rows are locked and the effect derived again from them
    first; a different hash, or a row count other than the approved one, rolls it back.

    Raises:
        ApprovalVoid: the approval is recorded void; nothing was changed.
        QuotaExceeded: the statement ran past the timeout (or no slot was free).
    """
    approval = call.approval
    engines, settings = call.services.engines, call.services.settings
    try:
        with tenant_transaction(
            engines,
            call.route(),
            read_only=False,
            timeout_ms=settings.statement_timeout_ms,
            gate=call.tenant_work,
        ) as conn:
            if approval is None:
                return write.execute(conn)
            touched = write.touched(conn, sample=KEY_SAMPLE, lock=engines.postgres)
            why = drifted(approval, write_effect(call, write, touched))
            if why is not None:
                raise _Drift(approval, why)
            affected = write.execute(conn)
            if affected != touched.count:
                raise _Drift(
                    approval,
                    f"it changed {affected} rows, not the {touched.count} approved (a "
                    "concurrent write slipped in); rolled back",
                )
            return affected
    except _Drift as drift:
        raise voided(call, drift.approval, f"at execution, {drift.why}") from None
