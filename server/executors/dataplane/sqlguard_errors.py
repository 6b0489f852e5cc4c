"""The one way the SQL guard modules refuse a statement: ``SqlRejected`` with a rule name."""

from __future__ import annotations

from typing import Any

from paybill.server.core.errors import SqlRejected


def reject(rule: str, message: str, **details: Any) -> SqlRejected:
    return SqlRejected(
        f"SQL rejected ({rule}): {message} Use query_table for structured reads, or fix the "
        "statement; nothing was executed.",
        rule=rule,
        **details,
    )
