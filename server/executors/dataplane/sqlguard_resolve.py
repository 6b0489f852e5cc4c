"""What the guard proves about a statement's sources and columns, on sqlglot's scopes.

Before qualification every FROM/JOIN source must be a tenant table or a CTE in scope (a name
that resolves to no CTE is a real relation, and the catalog is not the caller's), and no CTE
may be named like a tenant table or a catalog relation. After qualification nothing may be
left that sqlglot did not resolve: no star except ``count(*)``, no whole-row reference (a
table alias used as a value), no field access on a row, no NATURAL join (the database would
join on every same-named column, hidden ones included), and every column is a (source,
column) pair whose source is a visible tenant table or a checked derived source exposing it.
Any node the walk does not account for is refused: the check fails closed.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from paybill.server.executors.dataplane.schema import TENANT_TABLES
from paybill.server.executors.dataplane.sqlguard_errors import reject
from paybill.server.executors.dataplane.visibility import VisibleSchema

# Catalog relations live under these prefixes (PostgreSQL's pg_catalog is always on the
# search path; SQLite's sqlite_master/sqlite_schema), so a CTE there could stand in for one.
_CATALOG_PREFIXES = ("pg_", "sqlite_")
_CATALOG_NAMES = frozenset({"information_schema"})


def _check_cte_names(root: exp.Expr, schema: VisibleSchema) -> None:
    for cte in root.find_all(exp.CTE):
        name = cte.alias_or_name.lower()
        if name in schema.tables or name in _CATALOG_NAMES or name.startswith(_CATALOG_PREFIXES):
            raise reject(
                "cte_name",
                f"a CTE may not be named {cte.alias_or_name!r}: that is a table or catalog name.",
            )


def check_sources(root: exp.Query, schema: VisibleSchema) -> frozenset[str]:
    """The tenant tables a SELECT reads; every table reference must be one, or a CTE in scope.

    Raises:
        SqlRejected: an unknown table, a CTE named like a table, a table nowhere in scope.
    """
    _check_cte_names(root, schema)
    used: set[str] = set()
    seen: set[int] = set()
    for scope in traverse_scope(root):
        for node, source in scope.selected_sources.values():
            seen.add(id(node))
            if isinstance(source, exp.Table):
                if source.name not in schema.tables:
                    raise reject(
                        "unknown_table",
                        f"there is no table {source.name!r} you may read.",
                        table=source.name,
                    )
                used.add(source.name)
    for table in root.find_all(exp.Table):
        if id(table) not in seen:
            raise reject("unknown_table", f"table {table.name!r} is not in scope here.")
    return frozenset(used)


def _source_of(scope: Scope, name: str) -> exp.Table | Scope | None:
    """The source ``name`` refers to: this scope's FROM/JOIN first, then enclosing scopes
    (a correlated subquery reads its outer query's sources)."""
    current: Scope | None = scope
    while current is not None:
        selected = current.selected_sources.get(name)
        if selected is not None:
            return selected[1]
        current = current.parent
    return None


def _output_names(scope: Scope) -> list[str]:
    if scope.outer_columns:
        return list(scope.outer_columns)
    expression = scope.expression
    return list(expression.named_selects) if isinstance(expression, exp.Query) else []


def _is_output_alias(column: exp.Column, scope: Scope) -> bool:
    """A bare name in ``ORDER BY total`` or ``DISTINCT ON (total)`` naming an output column of
    the same query: PostgreSQL resolves those to the output column first. Inside an
    expression (``ORDER BY lower(c)``) it would not, so only the bare name counts."""
    query = scope.expression
    if not isinstance(query, exp.Query) or column.name not in query.named_selects:
        return False
    parent = column.parent
    if isinstance(parent, exp.Ordered) and column.arg_key == "this":
        order = parent.parent
        return isinstance(order, exp.Order) and order.parent is query
    if isinstance(parent, exp.Tuple):
        parent = parent.parent
    return isinstance(parent, exp.Distinct) and parent.parent is query


def _check_column(column: exp.Column, scope: Scope, schema: VisibleSchema) -> None:
    if isinstance(column.this, exp.Star):
        raise reject("star", "a star that could not be expanded to named columns; name them.")
    if column.args.get("db") or column.args.get("catalog"):
        raise reject("unknown_column", f"column {column.sql()!r} is not a column you may use.")
    table = column.table
    if not table:
        if _is_output_alias(column, scope):
            return
        raise reject(
            "whole_row",
            f"{column.name!r} is not a column of any source here (a table alias is not a "
            "value); name the columns you need.",
        )
    source = _source_of(scope, table)
    if isinstance(source, exp.Table):
        visible = schema.columns(source.name)
    elif isinstance(source, Scope):
        visible = dict.fromkeys(_output_names(source), "")
    else:
        visible = {}
    if column.name not in visible:
        raise reject(
            "unknown_column",
            f"column {column.name!r} of {table!r} is not a column you may use.",
            column=column.name,
        )


def _check_star(star: exp.Star) -> None:
    count = star.parent
    if isinstance(count, exp.Count) and star.arg_key == "this" and not count.expressions:
        return
    raise reject("star", "a star that could not be expanded to named columns; name them.")


def check_resolved(root: exp.Query, schema: VisibleSchema) -> None:
    """After qualification: every column resolves to a visible column, nothing else is left.

    Raises:
        SqlRejected: a leftover star, a whole-row or field reference, an unresolved column,
            a NATURAL join (its join columns are implicit).
    """
    checked: set[int] = set()
    for scope in traverse_scope(root):
        for node in scope.walk():
            if isinstance(node, exp.Column) and id(node) not in checked:
                _check_column(node, scope, schema)
                checked.add(id(node))
    for node in root.walk():
        if isinstance(node, exp.Star):
            _check_star(node)
        elif isinstance(node, exp.Join) and "NATURAL" in (node.method, node.kind):
            # sqlglot rewrites NATURAL to ON only while expanding a star; one left here joins,
            # in the database, on hidden columns too (customers.email = d.email: an oracle).
            raise reject(
                "natural_join",
                "NATURAL joins are not allowed here; join with ON or USING on named columns.",
            )
        elif isinstance(node, exp.TableColumn | exp.Dot):
            raise reject(
                "whole_row",
                "a table alias used as a value or a field of a row; name the columns you need.",
            )
        elif isinstance(node, exp.Column) and id(node) not in checked:
            raise reject("unknown_column", f"column {node.sql()!r} could not be resolved.")


def check_sqlite_distinct_on(root: exp.Query, schema: VisibleSchema) -> None:
    """SQLite has no DISTINCT ON: sqlglot renders it as a window (PARTITION BY, ORDER BY) in
    a subquery, where a bare name means the table's column before the output column. An
    output name that is a column the caller may not see would then partition or order by
    that hidden column (``SELECT DISTINCT ON (email) name AS email FROM customers``).

    Raises:
        SqlRejected: such a query names an output column like a hidden column (rule
            ``distinct_on``).
    """
    hidden = {
        column.name
        for name, table in TENANT_TABLES.items()
        for column in table.columns
        if column.name not in schema.columns(name)
    }
    for select in root.find_all(exp.Select):
        distinct = select.args.get("distinct")
        if not isinstance(distinct, exp.Distinct) or distinct.args.get("on") is None:
            continue
        clashing = sorted(hidden.intersection(select.named_selects))
        if clashing:
            raise reject(
                "distinct_on",
                f"on this backend DISTINCT ON cannot name an output column {clashing[0]!r}: "
                "that is the name of a column you may not use. Choose another alias.",
            )
