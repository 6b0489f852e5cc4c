"""The SQL guard, with its ``sqlguard_*`` modules the only code importing sqlglot
(ARCHITECTURE.md section 5; docs/sql-guard.md says what each check proves).

A statement is accepted only if it is exactly one SELECT (or, for callers allowed to write,
one UPDATE/DELETE of one table), built only from allow-listed node types and functions, and
referring only to tables and columns in the caller's visible schema. The tenant predicate and
a LIMIT cap are then added on the AST, every string literal becomes a bound parameter, and
the statement is rendered for the target database. Everything else is ``SQL_REJECTED``.

The guard's own work is bounded (``sqlguard_budget``), what qualification resolved is proved
complete (``sqlguard_resolve``) and the rewrite lives in ``sqlguard_rewrite``. Whatever the
guard cannot analyse, for any reason, is refused.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.qualify import qualify

from paybill.server.core.errors import SqlRejected
from paybill.server.executors.dataplane.sqlguard_budget import (
    MAX_SQL_CHARS,
    Stopwatch,
    check_shape,
    limits,
    too_complex,
)
from paybill.server.executors.dataplane.sqlguard_errors import reject as _reject
from paybill.server.executors.dataplane.sqlguard_memo import (
    GuardKey,
    GuardMemo,
    Memo,
    Refused,
    accepted,
    refused,
    schema_key,
)
from paybill.server.executors.dataplane.sqlguard_resolve import (
    check_resolved,
    check_sources,
    check_sqlite_distinct_on,
)
from paybill.server.executors.dataplane.sqlguard_rewrite import TENANT_PARAM as TENANT_PARAM
from paybill.server.executors.dataplane.sqlguard_rewrite import Dialect as Dialect
from paybill.server.executors.dataplane.sqlguard_rewrite import (
    bind_literals,
    bound_aggregates,
    cap_limit,
    check_intervals,
    inject_tenant,
    render,
    touched_rows,
)
from paybill.server.executors.dataplane.sqlguard_schema import mapping_schema
from paybill.server.executors.dataplane.visibility import VisibleSchema

# sqlglot logs a warning for every statement it falls back to parsing as a Command; those
# are rejected anyway, and the warning would only add noise to the server log.
logging.getLogger("sqlglot").setLevel(logging.ERROR)
_log = logging.getLogger(__name__)

# Whether the caller may write: a bool, or a function asked only for a write (the answer
# may cost an ACL enforcement, which a read has no use for).
WriteCheck = bool | Callable[[], bool]
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")

# Node types that never appear in an accepted statement, at any depth.
_FORBIDDEN = tuple(
    cls
    for name in (
        "Command",
        "Create",
        "Drop",
        "Alter",
        "TruncateTable",
        "Grant",
        "Revoke",
        "Copy",
        "Into",
        "Lock",
        "Set",
        "SetItem",
        "Merge",
        "Returning",  # a write reports its row count only; RETURNING * would name hidden columns
        "Insert",
        "Transaction",
        "Commit",
        "Rollback",
        "Pragma",
        "Use",
        "Describe",
        "Analyze",
        "Kill",
        "LoadData",
        "Cache",
        "Uncache",
        "Refresh",
        "Summarize",
        "Comment",
        "Show",
        "Heredoc",
        "Parameter",
        "SessionParameter",
        "Introducer",
        "Semicolon",
        "Declare",
        "Execute",
        "Put",
        "Get",
        "Attach",
        "Detach",
        "Export",
        "Install",
        "TableSample",
        "UnicodeString",
        "HexString",
        "BitString",
    )
    if isinstance(cls := getattr(exp, name, None), type)
)
# Functions by sqlglot node key. No function that reads files, sleeps, changes settings,
# reaches other databases or large objects is here; anonymous (unknown) functions never are.
_FUNCTIONS = frozenset(
    {
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "lower",
        "upper",
        "length",
        "coalesce",
        "abs",
        "round",
        "trim",
        "substring",
        "concat",
        "cast",
        "trycast",
        "case",
        "if",
        "nullif",
        "floor",
        "ceil",
        "greatest",
        "least",
        "datetrunc",
        "timestamptrunc",
        "extract",
        "currenttimestamp",
        "currentdate",
        "left",
        "right",
        "count_if",
        "countif",
        "stddev",
        "variance",
        "anyvalue",
        "rownumber",
        "rank",
        "denserank",
        "lag",
        "lead",
        "firstvalue",
        "lastvalue",
        "mod",
        "sign",
        "sqrt",
        "dateadd",
        "datediff",
        "date",
        "strposition",
        "arrayagg",
        "groupconcat",
        "stringagg",
        "percentilecont",
        "median",
        "ln",
        "pow",
        "exp",
        "dayofmonth",
        "month",
        "year",
        "dayofweek",
        "week",
        "quarter",
        # Operators that sqlglot models as functions.
        "and",
        "or",
        "xor",
        "exists",
        "regexplike",
        "regexpilike",
        "collate",
    }
)
# Casts only to plain value types: a cast to regclass/oid/reg* would look up the catalog.
_CAST_TYPES = frozenset(
    {
        "INT",
        "BIGINT",
        "SMALLINT",
        "DECIMAL",
        "DOUBLE",
        "FLOAT",
        "TEXT",
        "VARCHAR",
        "CHAR",
        "DATE",
        "TIMESTAMP",
        "TIMESTAMPTZ",
        "BOOLEAN",
        "INTERVAL",
    }
)
_WRITE_ROOTS = (exp.Update, exp.Delete)
_memo = GuardMemo()  # outcomes by their whole input (``sqlguard_memo``)


@dataclass(frozen=True)
class GuardedSql:
    sql: str
    params: dict[str, Any]
    kind: Literal["read", "write"]
    tables: frozenset[str]
    limit: int | None = None
    warnings: list[str] = field(default_factory=list)
    # A write: UPDATE or DELETE, and a SELECT of the rows it touches (its WHERE clause, its
    # parameters, ordered by ``id``), for the effect its approval binds (``bound_writes``).
    operation: Literal["UPDATE", "DELETE"] | None = None
    touched: str | None = None


def _parse(sql: str) -> exp.Expr:
    if "\x00" in sql:
        raise _reject("nul_byte", "the statement contains a NUL byte.")
    if len(sql) > MAX_SQL_CHARS:
        raise _reject("too_long", f"statements are limited to {MAX_SQL_CHARS} characters.")
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="postgres") if s is not None]
    except (ParseError, TokenError) as exc:
        first_line = str(exc).splitlines()[0][:200]
        raise _reject("parse_error", f"it does not parse: {first_line}") from None
    except RecursionError:
        raise too_complex("it is nested too deeply to parse.", limit="recursion") from None
    except (SqlglotError, ValueError):
        raise _reject("parse_error", "it does not parse.") from None
    if len(statements) != 1:
        raise _reject(
            "statement_count", f"exactly one statement is allowed, got {len(statements)}."
        )
    return statements[0]


def _type_name(data_type: exp.Expr) -> str:
    kind = data_type.this
    return str(kind.value if isinstance(kind, Enum) else kind).upper()


class _WriteCheckFailed(Exception):
    """The caller's ``allow_write`` function failed: its error, not the guard's, is raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _may_write(allow_write: WriteCheck) -> bool:
    if not callable(allow_write):
        return allow_write
    try:
        return allow_write()
    except Exception as exc:
        raise _WriteCheckFailed(exc) from exc


def _root_kind(root: exp.Expr) -> Literal["read", "write"] | None:
    if isinstance(root, exp.Query):
        return "read"
    return "write" if isinstance(root, _WRITE_ROOTS) else None


def _write_not_allowed() -> SqlRejected:
    return _reject("write_not_allowed", "this caller may only read.")


def _check_nodes(root: exp.Expr, allow_write: WriteCheck) -> Literal["read", "write"]:
    kind = _root_kind(root)
    if kind is None:
        raise _reject("statement_type", f"{root.key.upper()} statements are not allowed.")
    if kind == "write" and not _may_write(allow_write):
        raise _write_not_allowed()
    for node in root.walk():
        if isinstance(node, _FORBIDDEN):
            raise _reject("forbidden_node", f"{node.key.upper()} is not allowed.", node=node.key)
        if node is not root and isinstance(node, _WRITE_ROOTS):
            raise _reject("forbidden_node", "data-modifying statements cannot be nested.")
        if isinstance(node, exp.Anonymous):
            raise _reject("function", f"function {node.name!r} is not allowed.", function=node.name)
        if isinstance(node, exp.Func) and node.key not in _FUNCTIONS:
            raise _reject("function", f"function {node.key!r} is not allowed.", function=node.key)
        if isinstance(node, exp.Cast | exp.TryCast) and _type_name(node.to) not in _CAST_TYPES:
            raise _reject("function", f"casts to {node.to.sql()} are not allowed.")
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise _reject("recursive_cte", "recursive CTEs are not allowed.")
        if isinstance(node, exp.Join) and node.side in ("RIGHT", "FULL"):
            raise _reject("join_type", f"{node.side} JOIN is not allowed; use LEFT JOIN.")
        if isinstance(node, exp.Placeholder) and not PARAM_NAME.match(node.name or ""):
            raise _reject("parameter", "use named parameters like :name (lowercase).")
    if kind == "write" and any(isinstance(n, exp.Select) for n in root.walk()):
        raise _reject("subquery_in_write", "UPDATE and DELETE cannot contain subqueries.")
    return kind


def _check_tables(root: exp.Expr, schema: VisibleSchema) -> frozenset[str]:
    for table in root.find_all(exp.Table):
        if table.args.get("db") or table.args.get("catalog"):
            raise _reject(
                "qualified_table", "schema- or database-qualified tables are not allowed."
            )
        if not table.name:
            raise _reject("table_function", "table functions are not allowed in FROM.")
        alias = table.args.get("alias")
        if alias is not None and alias.columns:
            # customers AS c(a, b) renames the table's columns by position, hidden ones
            # included: the names the guard checks would not be the columns that are read.
            raise _reject(
                "table_alias_columns",
                "column aliases on a table (t(a, b)) are not allowed; alias columns in the "
                "select list instead.",
            )
    if isinstance(root, exp.Query):
        return check_sources(root, schema)
    # UPDATE/DELETE: one table, no subqueries (``_check_nodes``), so no CTE to resolve.
    used = {table.name for table in root.find_all(exp.Table)}
    for name in sorted(used - set(schema.tables)):
        raise _reject("unknown_table", f"there is no table {name!r} you may read.", table=name)
    if any(root.args.get(k) for k in ("from", "from_", "using", "joins")):
        raise _reject("write_shape", "UPDATE/DELETE may name one table only.")
    return frozenset(used)


def _check_write_columns(root: exp.Expr, schema: VisibleSchema) -> None:
    target = root.this if isinstance(root.this, exp.Table) else root.find(exp.Table)
    visible = schema.columns(target.name) if target is not None else {}
    for column in root.find_all(exp.Column):
        if column.name not in visible:
            raise _reject("unknown_column", f"column {column.name!r} cannot be used here.")


def guard_sql(
    sql: str,
    params: dict[str, Any],
    *,
    schema: VisibleSchema,
    dialect: Dialect,
    allow_write: WriteCheck,
    max_rows: int,
    max_value_chars: int | None = None,
) -> GuardedSql:
    """Validate and rewrite one statement for a tenant-scoped execution; with
    ``max_value_chars``, text and array aggregates are cut in the database to one more.
    ``allow_write`` may be a function: it is asked only when the statement writes, on every
    call (an outcome remembered for the same input, ``sqlguard_memo``, is never a decision
    that the caller may write).

    Raises:
        SqlRejected: the statement breaks any rule; ``details.rule`` says which.
    """
    key = GuardKey(
        sql, frozenset(params), schema_key(schema), dialect, max_rows, max_value_chars, limits()
    )
    found = _memo.get(key)
    if found is not None:
        return _replayed(found, params, allow_write)
    check = _AskedWrite(allow_write)
    outcome, repeatable = _analysed(sql, params, schema, dialect, check, max_rows, max_value_chars)
    # A caller refused a write is not remembered: the outcome for one who may is unknown.
    if repeatable and check.answer is not False:
        kept = accepted(outcome, params) if isinstance(outcome, GuardedSql) else refused(outcome)
        if kept is not None:
            _memo.put(key, Memo(kept, asks_write=check.answer is True))
    if isinstance(outcome, GuardedSql):
        return outcome
    raise outcome


def _replayed(found: Memo, params: dict[str, Any], allow_write: WriteCheck) -> GuardedSql:
    if found.asks_write:
        try:
            allowed = _may_write(allow_write)
        except _WriteCheckFailed as failed:
            raise failed.error from None
        if not allowed:
            raise _write_not_allowed()
    outcome = found.outcome
    if isinstance(outcome, Refused):
        raise outcome.error()
    return GuardedSql(
        outcome.sql,
        {**params, **dict(outcome.literals)},
        outcome.kind,
        outcome.tables,
        outcome.limit,
        operation=outcome.operation,
        touched=outcome.touched,
    )


class _AskedWrite:
    """``allow_write``, recording its answer (None: never asked)."""

    def __init__(self, allow_write: WriteCheck) -> None:
        self.allow_write = allow_write
        self.answer: bool | None = None

    def __call__(self) -> bool:
        self.answer = _may_write(self.allow_write)
        return self.answer


# Refusals that depend on the moment (CPU budget, stack depth), not only on the input.
_TRANSIENT_LIMITS = frozenset({"time", "recursion"})


def _analysed(
    sql: str,
    params: dict[str, Any],
    schema: VisibleSchema,
    dialect: Dialect,
    allow_write: WriteCheck,
    max_rows: int,
    max_value_chars: int | None,
) -> tuple[GuardedSql | SqlRejected, bool]:
    """The guard's outcome, and whether the same input always has it.

    Raises:
        Exception: whatever ``allow_write`` raised (e.g. the store went away: UNAVAILABLE).
    """
    try:
        return _guard(sql, params, schema, dialect, allow_write, max_rows, max_value_chars), True
    except RecursionError:
        return too_complex("it is nested too deeply to check.", limit="recursion"), False
    except SqlglotError as exc:
        # sqlglot could not resolve something (e.g. one alias used twice): never INTERNAL.
        return _reject("unresolved", str(exc).splitlines()[0][:200]), True
    except SqlRejected as rejected:
        return rejected, rejected.details.get("limit") not in _TRANSIENT_LIMITS
    except _WriteCheckFailed as failed:
        raise failed.error from None
    except Exception:
        # sqlglot failed in an unforeseen way (it asserts internally, e.g. on a positional
        # ORDER BY over a star it could not expand): what cannot be proved is refused.
        _log.warning("sql guard could not analyse a statement", exc_info=True)
        return _reject("unresolved", "the guard could not analyse it; simplify it."), False


def clear_memo() -> None:
    """Forget every remembered outcome (tests that replace parts of the guard)."""
    _memo.clear()
    statement_kind.cache_clear()


@functools.lru_cache(maxsize=256)
def statement_kind(sql: str) -> Literal["read", "write"] | None:
    """What the guard takes ``sql`` for, decided from the same parse before any tenant or
    caller is known: "read" (one query), "write" (one UPDATE/DELETE) or None (refused
    whoever asks). Only a hint for what to load: the guard still checks everything."""
    try:
        return _root_kind(_parse(sql))
    except Exception:
        return None


def _guard(
    sql: str,
    params: dict[str, Any],
    schema: VisibleSchema,
    dialect: Dialect,
    allow_write: WriteCheck,
    max_rows: int,
    max_value_chars: int | None,
) -> GuardedSql:
    watch = Stopwatch()
    root = _parse(sql)
    check_shape(root)
    kind = _check_nodes(root, allow_write)
    tables = _check_tables(root, schema)
    placeholders = {p.name for p in root.find_all(exp.Placeholder)}
    if missing := sorted(placeholders - set(params)):
        raise _reject("parameter", f"no value for parameter(s) {missing}.")
    if extra := sorted(set(params) - placeholders):
        raise _reject("parameter", f"unused parameter(s) {extra}.")
    check_intervals(root, dialect)
    watch.check("parse")
    if kind == "read":
        try:
            root = qualify(
                root,
                dialect="postgres",
                schema=mapping_schema(schema),
                validate_qualify_columns=True,
                quote_identifiers=True,
            )
        except (OptimizeError, SqlglotError) as exc:
            raise _reject("unknown_column", str(exc).splitlines()[0][:200]) from None
        watch.check("qualify")
        if not isinstance(root, exp.Query):  # qualify returns the query it was given
            raise _reject("statement_type", "only SELECT statements are read.")
        check_resolved(root, schema)
        if dialect == "sqlite":
            check_sqlite_distinct_on(root, schema)
    else:
        _check_write_columns(root, schema)
    inject_tenant(root)
    limit = cap_limit(root, max_rows) if kind == "read" else None
    if kind == "read" and max_value_chars is not None:
        bound_aggregates(root, max_value_chars, dialect)
    bound = dict(params)
    bind_literals(root, bound)
    if kind == "read":
        rendered = render(root, dialect)
        watch.check("render")
        return GuardedSql(rendered, bound, kind, tables, limit)
    # Built before the write is rendered: rendering renames the placeholders in place.
    touched = render(touched_rows(root, "id"), dialect)
    rendered = render(root, dialect)
    watch.check("render")
    operation: Literal["UPDATE", "DELETE"] = "UPDATE" if isinstance(root, exp.Update) else "DELETE"
    return GuardedSql(rendered, bound, kind, tables, operation=operation, touched=touched)
