"""list_tenants: a page costs the same statements whatever its size (no query per tenant)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.support.served import Served


@contextmanager
def _statements() -> Iterator[list[str]]:
    """Every statement any engine executes meanwhile (store, ACL reader, tenant data)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _page_cost(served: Served, limit: int) -> tuple[int, list[dict[str, Any]]]:
    with _statements() as seen:
        page = served.ok("ops", "list_tenants", limit=limit)["tenants"]
    return len(seen), page


def test_a_page_costs_the_same_statements_whatever_its_size(served: Served) -> None:
    for i in range(6):
        served.ok("ops", "create_tenant", slug=f"extra-{i}", name="Extra", plan="free")
    served.ok("ops", "list_tenants", limit=1)  # anything loaded once per process is loaded
    large, eight = _page_cost(served, 8)
    small, one = _page_cost(served, 1)
    assert (len(eight), len(one)) == (8, 1)
    # Every tenant carries its subscription, read in the page's own statement.
    assert all(t["subscription"] is not None for t in eight)
    assert large == small
