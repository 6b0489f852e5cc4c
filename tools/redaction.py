"""Recorded tool arguments as a caller may read them: the data tools' column rules applied.

The audit log and approvals keep the arguments of data calls (rows inserted, values set,
filters, statements), which hold tenant values. A reader sees a value only where the data
tools would show it the column (``visibility.visible_schema``: hidden and PII columns by
role and plan); anything else, including columns of a table the reader cannot see, reads
``[redacted]``. A statement's literals and parameters are redacted for a reader who cannot
see every PII column, since which column a literal meets is not known without parsing.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane.visibility import VisibleSchema, visible_schema
from paybill.server.store import Tenant

REDACTED = "[redacted]"
# Tools whose arguments carry tenant values, by where the values are.
_ROW_TOOLS = frozenset({"insert_rows"})
_VALUE_TOOLS = frozenset({"update_rows"})
_FILTER_TOOLS = frozenset({"update_rows", "delete_rows", "query_table"})
_SQL_TOOLS = frozenset({"run_sql"})
# A SQL string literal ('' escapes a quote, E'' escapes with backslashes), a PostgreSQL
# dollar-quoted string, or a number standing on its own (a phone number or an account number
# is PII too; digits inside a name like c1 are not matched).
_LITERAL = re.compile(
    r"[Ee]?'(?:[^'\\]|''|\\.)*'?|\$([A-Za-z_]*)\$.*?(?:\$\1\$|$)|\b\d[\d.]*(?:[eE][+-]?\d+)?\b",
    re.DOTALL,
)
_NUMBER = re.compile(r"\d")


def _row(value: Any, columns: dict[str, str]) -> Any:
    if not isinstance(value, dict):
        return REDACTED
    return {k: v if k in columns else REDACTED for k, v in value.items()}


def _filter(value: Any, columns: dict[str, str]) -> Any:
    if not isinstance(value, dict):
        return REDACTED
    if value.get("column") in columns or "value" not in value:
        return value
    return {**value, "value": REDACTED}


def _statement(value: Any) -> Any:
    if not isinstance(value, str):
        return REDACTED
    return _LITERAL.sub(lambda m: REDACTED if _NUMBER.match(m[0]) else f"'{REDACTED}'", value)


def visible_arguments(
    tool: str, arguments: dict[str, Any], schema: VisibleSchema, sees_all: bool
) -> dict[str, Any]:
    """A copy of ``arguments`` with the values ``schema`` does not show redacted.

    ``sees_all``: the reader may see every column the tenant schema shows anyone (then
    statements stay as written)."""
    if tool not in _ROW_TOOLS | _VALUE_TOOLS | _FILTER_TOOLS | _SQL_TOOLS:
        return arguments
    table = arguments.get("table")
    columns = schema.columns(table) if isinstance(table, str) else {}
    out = dict(arguments)
    if tool in _ROW_TOOLS and "rows" in out:
        rows = out["rows"]
        out["rows"] = [_row(r, columns) for r in rows] if isinstance(rows, list) else REDACTED
    if tool in _VALUE_TOOLS and "values" in out:
        out["values"] = _row(out["values"], columns)
    if tool in _FILTER_TOOLS and "filters" in out:
        found = out["filters"]
        listed = isinstance(found, list)
        out["filters"] = [_filter(f, columns) for f in found] if listed else REDACTED
    if tool in _SQL_TOOLS and not sees_all:
        if "sql" in out:
            out["sql"] = _statement(out["sql"])
        if "params" in out:
            params = out["params"]
            out["params"] = {k: REDACTED for k in params} if isinstance(params, dict) else REDACTED
    return out


def visible_effect(
    tool: str, effect: dict[str, Any], schema: VisibleSchema, sees_all: bool
) -> dict[str, Any]:
    """A copy of an approval's effect (``domain.effects``) with the tenant values the reader
    may not see redacted, as ``visible_arguments`` does for the call's arguments: the call's
    arguments, a write's statement (its literals), its bound parameters, the values it sets
    and the keys of the rows it touches."""
    details = dict(effect.get("details") or {})
    if isinstance(details.get("arguments"), dict):
        details["arguments"] = visible_arguments(tool, details["arguments"], schema, sees_all)
    table = details.get("table")
    columns = schema.columns(table) if isinstance(table, str) else {}
    if "values" in details:
        details["values"] = _row(details["values"], columns)
    if "filters" in details:
        found = details["filters"]
        listed = isinstance(found, list)
        details["filters"] = [_filter(f, columns) for f in found] if listed else REDACTED
    if not sees_all and "statement" in details:
        details["statement"] = _statement(details["statement"])
    if not sees_all and "params" in details:
        # A write's bound values: which column each one meets is not known here.
        params = details["params"]
        details["params"] = {k: REDACTED for k in params} if isinstance(params, dict) else REDACTED
    if isinstance(details.get("keys"), dict):
        details["keys"] = _keys(details["keys"], columns)
    return {**effect, "details": details}


def _keys(keys: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    """A write's key sample, shown only when the reader sees every key column."""
    named = keys.get("columns")
    if isinstance(named, list) and named and all(c in columns for c in named):
        return keys
    return {**keys, "sample": REDACTED}


class Redactor:
    """Redacts recorded arguments for one reader, by the plan of each record's tenant (a
    record without a tenant gets the narrowest view)."""

    def __init__(self, session: Session, role: Role) -> None:
        self.session = session
        self.role = role
        self._widest = visible_schema(Role.PLATFORM_ADMIN, {"data.pii"})
        self._views: dict[str | None, tuple[VisibleSchema, bool]] = {}

    def _view(self, tenant_id: str | None) -> tuple[VisibleSchema, bool]:
        if tenant_id not in self._views:
            tenant = self.session.get(Tenant, tenant_id) if tenant_id else None
            features = set(tenant.plan.features) if tenant is not None else set()
            schema = visible_schema(self.role, features)
            self._views[tenant_id] = (schema, schema == self._widest)
        return self._views[tenant_id]

    def arguments(self, tool: str, arguments: dict[str, Any], tenant_id: str | None) -> Any:
        schema, sees_all = self._view(tenant_id)
        return visible_arguments(tool, arguments, schema, sees_all)

    def effect(
        self, tool: str, effect: dict[str, Any] | None, tenant_id: str | None
    ) -> dict[str, Any] | None:
        if effect is None:
            return None
        schema, sees_all = self._view(tenant_id)
        return visible_effect(tool, effect, schema, sees_all)
