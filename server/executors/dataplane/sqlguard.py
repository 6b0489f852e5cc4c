"""The SQL guard: the only module that imports sqlglot (ARCHITECTURE.md section 5).

A statement is accepted only if it is exactly one SELECT (or, for callers allowed to write,
one UPDATE/DELETE of one table), built only from allow-listed node types and functions, and
referring only to tables and columns in the caller's visible schema. The tenant predicate and
a LIMIT cap are then added on the AST, every string literal becomes a bound parameter, and
the statement is rendered for the target database. Everything else is ``SQL_REJECTED``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from paybill.server.core.errors import SqlRejected
from paybill.server.executors.dataplane.visibility import VisibleSchema

# sqlglot logs a warning for every statement it falls back to parsing as a Command; those
# are rejected anyway, and the warning would only add noise to the server log.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

MAX_SQL_CHARS = 10_000
MAX_NODES = 2_000
TENANT_PARAM = "__tenant_id"
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
Dialect = Literal["postgres", "sqlite"]

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


@dataclass(frozen=True)
class GuardedSql:
    sql: str
    params: dict[str, Any]
    kind: Literal["read", "write"]
    tables: frozenset[str]
    limit: int | None = None
    warnings: list[str] = field(default_factory=list)


def _reject(rule: str, message: str, **details: Any) -> SqlRejected:
    return SqlRejected(
        f"SQL rejected ({rule}): {message} Use query_table for structured reads, or fix the "
        "statement; nothing was executed.",
        rule=rule,
        **details,
    )


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
    except (SqlglotError, RecursionError, ValueError):
        raise _reject("parse_error", "it does not parse.") from None
    if len(statements) != 1:
        raise _reject(
            "statement_count", f"exactly one statement is allowed, got {len(statements)}."
        )
    return statements[0]


def _type_name(data_type: exp.Expr) -> str:
    kind = data_type.this
    return str(kind.value if isinstance(kind, Enum) else kind).upper()


def _check_nodes(root: exp.Expr, allow_write: bool) -> Literal["read", "write"]:
    if isinstance(root, exp.Query):
        kind: Literal["read", "write"] = "read"
    elif isinstance(root, _WRITE_ROOTS):
        if not allow_write:
            raise _reject("write_not_allowed", "this caller may only read.")
        kind = "write"
    else:
        raise _reject("statement_type", f"{root.key.upper()} statements are not allowed.")
    for count, node in enumerate(root.walk()):
        if count > MAX_NODES:
            raise _reject("too_complex", f"more than {MAX_NODES} syntax nodes.")
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
    ctes = {cte.alias_or_name for cte in root.find_all(exp.CTE)}
    used: set[str] = set()
    for table in root.find_all(exp.Table):
        if table.args.get("db") or table.args.get("catalog"):
            raise _reject(
                "qualified_table", "schema- or database-qualified tables are not allowed."
            )
        name = table.name
        if not name:
            raise _reject("table_function", "table functions are not allowed in FROM.")
        if name in ctes:
            continue
        if name not in schema.tables:
            raise _reject("unknown_table", f"there is no table {name!r} you may read.", table=name)
        used.add(name)
    is_write = isinstance(root, (exp.Update, exp.Delete))
    if is_write and any(root.args.get(k) for k in ("from", "using", "joins")):
        raise _reject("write_shape", "UPDATE/DELETE may name one table only.")
    return frozenset(used)


def _check_write_columns(root: exp.Expr, schema: VisibleSchema) -> None:
    target = root.this if isinstance(root.this, exp.Table) else root.find(exp.Table)
    visible = schema.columns(target.name) if target is not None else {}
    for column in root.find_all(exp.Column):
        if column.name not in visible:
            raise _reject("unknown_column", f"column {column.name!r} cannot be used here.")


def _tenant_predicate(table_alias: str) -> exp.Expr:
    return exp.column("tenant_id", table=table_alias, quoted=True).eq(
        exp.Placeholder(this=TENANT_PARAM)
    )


def _inject_tenant(root: exp.Expr) -> None:
    if isinstance(root, _WRITE_ROOTS):
        target = root.this if isinstance(root.this, exp.Table) else root.find(exp.Table)
        alias = target.alias_or_name if target is not None else ""
        root.where(_tenant_predicate(alias), copy=False)
        return
    for scope in traverse_scope(root):
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        for join in select.args.get("joins") or []:
            if isinstance(join.this, exp.Table) and join.side == "LEFT":
                on = join.args.get("on")
                predicate = _tenant_predicate(join.this.alias_or_name)
                join.set("on", exp.and_(on, predicate) if on is not None else predicate)
        left_joined = {
            j.this.alias_or_name for j in select.args.get("joins") or [] if j.side == "LEFT"
        }
        for name, source in scope.selected_sources.items():
            node = source[1] if isinstance(source, tuple) else source
            if isinstance(node, exp.Table) and name not in left_joined:
                select.where(_tenant_predicate(name), copy=False)


def _cap_limit(root: exp.Expr, max_rows: int) -> int:
    limit = root.args.get("limit")
    requested = None
    if limit is not None:
        value = limit.expression
        if isinstance(value, exp.Literal) and value.is_int:
            requested = int(value.name)
    effective = max_rows + 1 if requested is None or requested > max_rows else requested
    root.set("limit", exp.Limit(expression=exp.Literal.number(effective)))
    return effective


_STRINGS = (exp.Literal, exp.RawString, exp.National, exp.ByteString)


def _bind_literals(root: exp.Expr, params: dict[str, Any]) -> None:
    """Every string literal ($$...$$, E'...', N'...' too) becomes a bound parameter."""
    for index, node in enumerate(list(root.find_all(*_STRINGS))):
        if isinstance(node, exp.Literal) and not node.is_string:
            continue
        name = f"__p{index}"
        params[name] = node.this
        node.replace(exp.Placeholder(this=name))


def guard_sql(
    sql: str,
    params: dict[str, Any],
    *,
    schema: VisibleSchema,
    dialect: Dialect,
    allow_write: bool,
    max_rows: int,
) -> GuardedSql:
    """Validate and rewrite one statement for a tenant-scoped execution.

    Raises:
        SqlRejected: the statement breaks any rule; ``details.rule`` says which.
    """
    root = _parse(sql)
    kind = _check_nodes(root, allow_write)
    tables = _check_tables(root, schema)
    placeholders = {p.name for p in root.find_all(exp.Placeholder)}
    if missing := sorted(placeholders - set(params)):
        raise _reject("parameter", f"no value for parameter(s) {missing}.")
    if extra := sorted(set(params) - placeholders):
        raise _reject("parameter", f"unused parameter(s) {extra}.")
    if kind == "read":
        # qualify types its schema as dict[str, object]; dict is invariant, so a copy typed so.
        tables_schema: dict[str, object] = dict(schema.tables)
        try:
            root = qualify(
                root,
                dialect="postgres",
                schema=tables_schema,
                validate_qualify_columns=True,
                quote_identifiers=True,
            )
        except (OptimizeError, SqlglotError, RecursionError) as exc:
            raise _reject("unknown_column", str(exc).splitlines()[0][:200]) from None
    else:
        _check_write_columns(root, schema)
    _inject_tenant(root)
    limit = _cap_limit(root, max_rows) if kind == "read" else None
    bound = dict(params)
    _bind_literals(root, bound)
    return GuardedSql(root.sql(dialect=dialect), bound, kind, tables, limit)
