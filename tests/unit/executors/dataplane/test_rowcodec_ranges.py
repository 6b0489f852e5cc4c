"""Decoding a bundle's integers: each within its column type, as PostgreSQL holds it (SQLite
would store anything)."""

from __future__ import annotations

import pytest

from paybill.server.executors.dataplane.rowcodec import decode_value
from paybill.server.executors.dataplane.schema import customers, invoices

AMOUNT = invoices.c.amount_cents  # integer
CUSTOMER = invoices.c.customer_id  # bigint


@pytest.mark.parametrize(
    ("column", "value"),
    [(AMOUNT, 2**31 - 1), (AMOUNT, -(2**31)), (CUSTOMER, 2**63 - 1), (customers.c.id, 2**40)],
)
def test_values_within_the_type_decode(column: object, value: int) -> None:
    assert decode_value(column, value, dialect="sqlite") == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("column", "value"), [(AMOUNT, 2**31), (AMOUNT, 2**40), (CUSTOMER, 2**63), (CUSTOMER, 2**70)]
)
def test_values_beyond_the_type_are_refused(column: object, value: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        decode_value(column, value, dialect="postgresql")  # type: ignore[arg-type]
