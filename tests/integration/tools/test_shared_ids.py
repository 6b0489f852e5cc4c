"""The residual risk docs/isolation.md states, pinned: pooled tenants draw row ids from one
sequence per table, so the gap between two of a tenant's ids counts other pooled tenants'
inserts in between (never their contents). If this changes, change the page too."""

from __future__ import annotations

from tests.support.served import Served


def _insert(served: Served, slug: str) -> int:
    rows = [{"name": f"a customer of {slug}"}]
    ids = served.ok("admin", "insert_rows", tenant=slug, table="customers", rows=rows)["ids"]
    return int(ids[0])


def test_pooled_tenants_share_one_id_sequence_per_table(served: Served) -> None:
    first = _insert(served, "acme")
    for _ in range(3):
        _insert(served, "globex")  # pooled too: pro without the isolation move
    assert _insert(served, "acme") - first == 4
