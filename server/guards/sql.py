"""The sql guard: a caller's SQL statement validated and rewritten (tenant filter, row cap)
by the sqlglot guard, once per call; the handler executes ``Call.sql``."""

from __future__ import annotations

from paybill.server.core.errors import Denied
from paybill.server.executors.dataplane.sqlguard import GuardedSql, guard_sql
from paybill.server.guards.authz import may_write_data
from paybill.server.guards.call import Call


def statement(call: Call) -> GuardedSql:
    """The call's validated statement. The approval guard may ask first (does it write?);
    the statement is guarded only once either way.

    Raises:
        SqlRejected: the statement breaks a rule (``details.rule`` says which), or writes
            while the caller is no writer of the tenant.
    """
    if call.sql is None:
        args = call.arguments
        call.sql = guard_sql(
            args.sql,
            args.params,
            schema=call.visible_schema(),
            dialect="postgres" if call.services.engines.postgres else "sqlite",
            allow_write=lambda: may_write_data(call),  # an ACL enforcement: writes only
            max_rows=call.services.settings.max_result_rows,
            max_value_chars=call.services.settings.max_result_bytes,
        )
    return call.sql


def check_sql(call: Call) -> None:
    """Raises: SqlRejected; Denied for a write that no approval covers (the approval guard
    asks for one first; this holds even for a tool that forgot to declare it)."""
    if not call.spec.runs_sql:
        return
    if statement(call).kind == "write" and call.approval is None and not call.dry_run:
        raise Denied("Data-modifying SQL runs only through an approval.")
