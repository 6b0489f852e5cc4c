"""The guard's rewrite of an accepted statement: the tenant predicate on every table, the
row cap (FETCH FIRST counted as a LIMIT), string literals bound as parameters (interval texts
checked and kept inline), and the rendering for the target database's driver."""

from __future__ import annotations

import re
import secrets
from typing import Any, Literal

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from paybill.server.executors.dataplane.sqlguard_errors import reject

TENANT_PARAM = "__tenant_id"
Dialect = Literal["postgres", "sqlite"]
_WRITE_ROOTS = (exp.Update, exp.Delete)


def _tenant_predicate(table_alias: str) -> exp.Expr:
    return exp.column("tenant_id", table=table_alias, quoted=True).eq(
        exp.Placeholder(this=TENANT_PARAM)
    )


def inject_tenant(root: exp.Expr) -> None:
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


def touched_rows(root: exp.Expr, key: str) -> exp.Select:
    """The rows an UPDATE/DELETE (tenant predicate injected, literals bound) touches, as a
    SELECT of the target table's rows under the write's own WHERE clause, in key order: the
    same placeholders, so it runs with the write's parameters."""
    target = root.this if isinstance(root.this, exp.Table) else root.find(exp.Table)
    if target is None:
        raise reject("write_shape", "UPDATE/DELETE must name one table.")
    alias = target.alias_or_name
    query = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(alias)))
    query = query.from_(target.copy()).order_by(exp.column(key, table=alias, quoted=True))
    where = root.args.get("where")
    if where is not None:
        query.set("where", where.copy())
    return query


def _requested_rows(root: exp.Expr) -> int | None:
    """The row count asked for by LIMIT or FETCH FIRST (sqlglot keeps either as ``limit``)."""
    limit = root.args.get("limit")
    value: exp.Expr | None = None
    if isinstance(limit, exp.Fetch):
        options = limit.args.get("limit_options")
        if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
            raise reject("fetch", "FETCH FIRST ... PERCENT / WITH TIES is not supported.")
        # FETCH FIRST ROW ONLY (no count) means one row.
        value = limit.args.get("count") or exp.Literal.number(1)
    elif limit is not None:
        value = limit.expression
    if isinstance(value, exp.Literal) and value.is_int:
        return int(value.name)
    return None


def cap_limit(root: exp.Expr, max_rows: int) -> int:
    requested = _requested_rows(root)
    effective = max_rows + 1 if requested is None or requested > max_rows else requested
    root.set("limit", exp.Limit(expression=exp.Literal.number(effective)))
    return effective


def bound_aggregates(root: exp.Expr, max_chars: int, dialect: Dialect) -> None:
    """Cut every text aggregate (and, on PostgreSQL, array aggregate) to ``max_chars + 1``
    characters or elements in the database: a ``string_agg`` over a cross join grows
    without bound, and fetching it whole would cost the server its memory before the
    result's size could be refused. One more than the bound is kept, so a cut value is
    still larger than the result may be and is refused, never returned short."""
    length = exp.Literal.number(max_chars + 1)
    # Innermost first: an outer aggregate's copy then already holds its inner ones' bounds.
    for node in reversed(list(root.find_all(exp.GroupConcat, exp.ArrayAgg, bfs=False))):
        target = node.parent if isinstance(node.parent, exp.Window) else node
        if isinstance(node, exp.GroupConcat):
            start = exp.Literal.number(1)
            target.replace(exp.Substring(this=target.copy(), start=start, length=length))
        elif dialect == "postgres":
            cut = exp.Slice(this=exp.Literal.number(1), expression=length)
            target.replace(exp.Bracket(this=exp.Paren(this=target.copy()), expressions=[cut]))


_STRINGS = (exp.Literal, exp.RawString, exp.National, exp.ByteString)
# An interval's text stays inline (a bound parameter cannot be an interval literal's text):
# numbers, unit words, signs, dots and colons ('1 day 2 hours', '1:30'), nothing that could
# close the quote (the renderer escapes quotes as well).
_INTERVAL_TEXT = re.compile(r"^[0-9a-zA-Z .:+-]{1,64}$")


def check_intervals(root: exp.Expr, dialect: Dialect) -> None:
    for interval in root.find_all(exp.Interval):
        if dialect == "sqlite":
            raise reject(
                "interval",
                "INTERVAL is not supported by this tenant's SQLite store; use date "
                "arithmetic with datetime(), or compare with a bound :parameter.",
            )
        # Only a plain quoted text (no E'', $$, parameter or expression) stays inline.
        text = interval.this
        if not (type(text) is exp.Literal and _INTERVAL_TEXT.match(text.name)):
            raise reject("interval", "write intervals like INTERVAL '1' DAY or '2 hours'.")


def bind_literals(root: exp.Expr, params: dict[str, Any]) -> None:
    """Every string literal ($$...$$, E'...', N'...' too) becomes a bound parameter."""
    for index, node in enumerate(list(root.find_all(*_STRINGS))):
        if isinstance(node, exp.Literal) and not node.is_string:
            continue
        if isinstance(node, exp.Literal) and isinstance(node.parent, exp.Interval):
            continue  # checked by _check_intervals
        name = f"__p{index}"
        params[name] = node.this
        node.replace(exp.Placeholder(this=name))


def render(root: exp.Expr, dialect: Dialect) -> str:
    """The statement without comments. On PostgreSQL, psycopg reads every ``%`` as the start
    of a placeholder, so each other ``%`` (modulo, quoted aliases) is doubled: placeholders
    are rendered under an unguessable prefix, everything is escaped, the prefix is removed."""
    if dialect == "sqlite":
        return root.sql(dialect=dialect, comments=False)
    prefix = f"p{secrets.token_hex(8)}_"
    for placeholder in root.find_all(exp.Placeholder):
        placeholder.set("this", prefix + placeholder.name)
    text = root.sql(dialect=dialect, comments=False).replace("%", "%%")
    return text.replace(f"%%({prefix}", "%(")
