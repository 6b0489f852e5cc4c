"""The SQL guard's outcome, remembered under everything it depends on.

Agents repeat the same statements in loops, and parsing, qualifying and rendering one costs
about a millisecond and a half. The guard is a pure function of the statement's text, the
names of its parameters (their values are only passed on), the caller's visible schema (role
and plan), the target dialect, the row and value bounds and the guard's own limits:
``GuardKey`` holds all of them, so an outcome is only ever reused for exactly the input it
was computed from. Whether the caller may write is asked again on every hit of a write
(``Memo.asks_write``): it is an ACL decision, never remembered here.

Nothing mutable is shared: an entry holds the rendered text and frozen data, never a
sqlglot tree, and each hit builds a new ``GuardedSql`` or a new ``SqlRejected``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from paybill.server.core.errors import SqlRejected
from paybill.server.executors.dataplane.visibility import VisibleSchema

if TYPE_CHECKING:
    from paybill.server.executors.dataplane.sqlguard import GuardedSql

# Entries kept: an entry holds at most a statement (10,000 characters) and its two
# renderings, so the memo stays under a few tens of megabytes whatever callers send.
MAX_ENTRIES = 256

SchemaKey = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


def schema_key(schema: VisibleSchema) -> SchemaKey:
    """The visible schema's whole content (tables, columns, types), in its order."""
    return tuple((table, tuple(columns.items())) for table, columns in schema.tables.items())


@dataclass(frozen=True)
class GuardKey:
    sql: str
    param_names: frozenset[str]
    schema: SchemaKey
    dialect: str
    max_rows: int
    max_value_chars: int | None
    limits: tuple[float, ...]  # the guard's own bounds (``sqlguard_budget.limits``)


@dataclass(frozen=True)
class Accepted:
    """A ``GuardedSql`` without the caller's parameter values: the literals the guard bound."""

    sql: str
    literals: tuple[tuple[str, Any], ...]
    kind: Literal["read", "write"]
    tables: frozenset[str]
    limit: int | None
    operation: Literal["UPDATE", "DELETE"] | None
    touched: str | None


@dataclass(frozen=True)
class Refused:
    message: str
    details: tuple[tuple[str, Any], ...]

    def error(self) -> SqlRejected:
        return SqlRejected(self.message, **dict(self.details))


@dataclass(frozen=True)
class Memo:
    outcome: Accepted | Refused
    # The statement writes: the guard asked whether the caller may, and the outcome holds
    # for a caller who may. A hit asks again; a caller who may not is refused as before.
    asks_write: bool


def frozen_values(values: dict[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    """``values`` as a tuple, or None if one is not immutable (then nothing is remembered)."""
    items = tuple(values.items())
    for _, value in items:
        if not isinstance(value, str | int | float | bool | type(None)):
            return None
    return items


class GuardMemo:
    """A bounded, thread-safe LRU of guard outcomes."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[Hashable, Memo] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Memo | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, memo: Memo) -> None:
        with self._lock:
            self._entries[key] = memo
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def accepted(guarded: GuardedSql, params: dict[str, Any]) -> Accepted | None:
    """What of ``guarded`` does not depend on the parameter values; None if it cannot be kept
    (a literal value that is not immutable)."""
    literals = frozen_values({k: v for k, v in guarded.params.items() if k not in params})
    if literals is None or guarded.warnings:
        return None
    return Accepted(
        guarded.sql,
        literals,
        guarded.kind,
        guarded.tables,
        guarded.limit,
        guarded.operation,
        guarded.touched,
    )


def refused(error: SqlRejected) -> Refused | None:
    details = frozen_values(error.details)
    return None if details is None else Refused(error.message, details)
