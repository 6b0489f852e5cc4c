"""Integers at the very edges of their column types are stored and read back exactly, on
both backends (one past them is INVALID_INPUT: test_bad_input)."""

from __future__ import annotations

from tests.support.served import Served

EDGES = [
    {"customer_id": 2**63 - 1, "amount_cents": 2**31 - 1},
    {"customer_id": -(2**63), "amount_cents": -(2**31)},
]


def test_the_edges_of_each_integer_type_round_trip(served: Served) -> None:
    rows = [{**edge, "currency": "EUR", "status": "open"} for edge in EDGES]
    served.ok("admin", "insert_rows", tenant="acme", table="invoices", rows=rows)
    read = served.ok(
        "admin",
        "query_table",
        tenant="acme",
        table="invoices",
        columns=["customer_id", "amount_cents"],
        filters=[{"column": "amount_cents", "op": "in", "value": [2**31 - 1, -(2**31)]}],
        order_by=[{"column": "amount_cents", "direction": "desc"}],
    )
    assert read["rows"] == [[e["customer_id"], e["amount_cents"]] for e in EDGES]
