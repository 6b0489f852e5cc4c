"""What part of the tenant schema a caller may see: role plus plan entitlements."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, String, Text

from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane.schema import HIDDEN_COLUMNS, TENANT_TABLES

PII_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.TENANT_ADMIN})


def type_name(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, BigInteger):
        return "bigint"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, DateTime):
        return "timestamptz"
    if isinstance(kind, Text):
        return "text"
    if isinstance(kind, String):
        return "varchar"
    raise TypeError(f"no SQL type name for {kind!r}")


@dataclass(frozen=True)
class VisibleSchema:
    """table -> column -> SQL type name, for exactly what the caller may reference."""

    tables: dict[str, dict[str, str]]

    def columns(self, table: str) -> dict[str, str]:
        return self.tables.get(table, {})


def visible_schema(role: Role, features: frozenset[str] | set[str]) -> VisibleSchema:
    pii = role in PII_ROLES and "data.pii" in features
    # Fresh dicts for each caller: no caller can change what another sees.
    return VisibleSchema({name: dict(columns) for name, columns in _visible_tables(pii)})


@functools.cache
def _visible_tables(pii: bool) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """The schema's tables and columns as one of the two audiences sees them, built once:
    the tables are declared at import and never change while the server runs."""
    return tuple(
        (
            name,
            tuple(
                (c.name, type_name(c))
                for c in table.columns
                if c.name not in HIDDEN_COLUMNS and (pii or not c.info.get("pii"))
            ),
        )
        for name, table in TENANT_TABLES.items()
    )
