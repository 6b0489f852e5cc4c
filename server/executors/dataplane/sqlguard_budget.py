"""Bounds on the guard's own work, checked before the expensive phases (qualify, render).

Parsing is linear in the text, but qualification grows with the number of joined sources
(star and NATURAL JOIN expansion) and sqlglot recurses over the tree, so a short statement
could cost seconds of CPU or a RecursionError. Shape limits are checked on the parsed tree
with an explicit stack (no recursion); the CPU-time budget is a backstop between phases.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from paybill.server.core.errors import SqlRejected
from paybill.server.executors.dataplane.sqlguard_errors import reject

MAX_SQL_CHARS = 10_000
MAX_NODES = 2_000
# Every FROM/JOIN source: real tables, CTE references and derived tables.
MAX_SOURCES = 24
MAX_JOINS = 16
# Depth of the syntax tree (long AND/OR chains, nested expressions) ...
MAX_DEPTH = 96
# ... and of SELECTs nested in SELECTs (subqueries, derived tables, CTE bodies).
MAX_QUERY_NESTING = 8
# A backstop, not the main bound (the shape limits are): generous enough that a garbage
# collection or a first-use import inside the guard never refuses an ordinary statement.
MAX_GUARD_SECONDS = 2.0

_SOURCES = (exp.Table, exp.Subquery, exp.Values)


def limits() -> tuple[float, ...]:
    """The bounds as they are now: part of what a remembered outcome was decided under."""
    return (
        MAX_SQL_CHARS,
        MAX_NODES,
        MAX_SOURCES,
        MAX_JOINS,
        MAX_DEPTH,
        MAX_QUERY_NESTING,
        MAX_GUARD_SECONDS,
    )


def too_complex(message: str, **details: object) -> SqlRejected:
    return reject("too_complex", f"{message} Split or simplify the statement.", **details)


def check_shape(root: exp.Expr) -> None:
    """Raises SqlRejected (``too_complex``) when the tree is beyond any limit."""
    nodes = joins = sources = 0
    stack: list[tuple[exp.Expr, int, int]] = [(root, 1, 1)]
    while stack:
        node, depth, nesting = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise too_complex(f"more than {MAX_NODES} syntax nodes.", limit="nodes")
        if depth > MAX_DEPTH:
            raise too_complex(f"expressions nested deeper than {MAX_DEPTH}.", limit="depth")
        if isinstance(node, exp.Join):
            joins += 1
            if joins > MAX_JOINS:
                raise too_complex(f"more than {MAX_JOINS} joins.", limit="joins")
        if isinstance(node, _SOURCES):
            sources += 1
            if sources > MAX_SOURCES:
                raise too_complex(f"more than {MAX_SOURCES} tables or subqueries.", limit="sources")
        if node is not root and isinstance(node, exp.Select):
            nesting += 1
            if nesting > MAX_QUERY_NESTING:
                raise too_complex(
                    f"queries nested deeper than {MAX_QUERY_NESTING}.", limit="nesting"
                )
        for child in node.iter_expressions():
            stack.append((child, depth + 1, nesting))


@dataclass
class Stopwatch:
    """CPU time the guard's thread spent, checked between phases. CPU, not wall time: the
    bound is on the work a statement makes the guard do, and a busy machine that leaves the
    thread waiting must not turn a small statement into a refusal."""

    clock: Callable[[], float] = time.thread_time
    limit: float = MAX_GUARD_SECONDS
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def check(self, phase: str) -> None:
        if self.clock() - self.started > self.limit:
            raise too_complex(f"checking it took too long ({phase}).", limit="time")
