"""Tenant row values as JSON: the one mapping shared by exports and checksums.

| column type           | JSON                                                          |
| --------------------- | ------------------------------------------------------------- |
| Integer, BigInteger   | number, within the column type's range                        |
| String, Text          | string                                                        |
| DateTime              | string ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC (naive = UTC)   |
| Date                  | string ``YYYY-MM-DD``                                         |
| Numeric               | string, the exact decimal (never a float)                     |
| LargeBinary           | string, standard base64                                       |
| Boolean               | true / false                                                  |
| NULL                  | null                                                          |

Decoding is directed by the column's declared type, so no type tags are stored. ``tenant_id``
is never encoded: a row's owner is where it is loaded, not what the file says.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, RowMapping, Table
from sqlalchemy.sql import sqltypes

from paybill.server.executors.dataplane.schema import HIDDEN_COLUMNS

_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def exported_columns(table: Table) -> list[Column[Any]]:
    """Every column of ``table`` except ``tenant_id``, in declaration order."""
    return [c for c in table.columns if c.name not in HIDDEN_COLUMNS]


def encode_value(column: Column[Any], value: Any) -> Any:
    """The JSON value of one database value, by the column's type."""
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, sqltypes.DateTime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime(_UTC_FORMAT)
    if isinstance(kind, sqltypes.Date):
        return value.isoformat()
    if isinstance(kind, sqltypes.Boolean):
        return bool(value)
    if isinstance(kind, sqltypes.Integer):
        return int(value)
    if isinstance(kind, sqltypes.Numeric):
        return str(Decimal(value))
    if isinstance(kind, sqltypes.LargeBinary):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def decode_value(column: Column[Any], value: Any, *, dialect: str) -> Any:
    """The database value of one JSON value.

    Raises:
        ValueError: the JSON value does not fit the column's type or nullability.
    """
    if value is None:
        if not column.nullable:
            raise ValueError(f"{column.name}: must not be null")
        return None
    kind = column.type
    if isinstance(kind, sqltypes.DateTime):
        parsed = dt.datetime.strptime(_text(value), _UTC_FORMAT)
        # SQLite stores the wall clock as given, so it gets naive UTC; PostgreSQL an instant.
        return parsed if dialect == "sqlite" else parsed.replace(tzinfo=dt.UTC)
    if isinstance(kind, sqltypes.Date):
        return dt.date.fromisoformat(_text(value))
    if isinstance(kind, sqltypes.Boolean):
        if not isinstance(value, bool):
            raise ValueError(f"{column.name}: expected true or false")
        return value
    if isinstance(kind, sqltypes.Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{column.name}: expected an integer")
        low, high = integer_range(kind)
        if not low <= value <= high:
            # SQLite would store it whatever the declared type; PostgreSQL would refuse it.
            raise ValueError(f"{column.name}: {value} is outside {low}..{high}")
        return value
    if isinstance(kind, sqltypes.Numeric):
        return Decimal(_text(value))
    if isinstance(kind, sqltypes.LargeBinary):
        return base64.b64decode(_text(value), validate=True)
    return _text(value)


def integer_range(kind: sqltypes.Integer) -> tuple[int, int]:
    """The values an integer column holds on PostgreSQL (the narrower backend)."""
    if isinstance(kind, sqltypes.SmallInteger):
        return -(2**15), 2**15 - 1
    if isinstance(kind, sqltypes.BigInteger):
        return -(2**63), 2**63 - 1
    return -(2**31), 2**31 - 1


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def encode_row(table: Table, row: RowMapping | Mapping[str, Any]) -> dict[str, Any]:
    """A database row as a JSON object of every exported column."""
    return {c.name: encode_value(c, row[c.name]) for c in exported_columns(table)}


def decode_row(table: Table, data: Mapping[str, Any], *, dialect: str) -> dict[str, Any]:
    """A JSON object back to database values (without ``tenant_id``).

    Raises:
        ValueError: the object's keys are not exactly the exported columns, or a value does
            not fit its column.
    """
    columns = exported_columns(table)
    expected = {c.name for c in columns}
    if set(data) != expected:
        extra, missing = sorted(set(data) - expected), sorted(expected - set(data))
        raise ValueError(f"columns differ from the schema (extra {extra}, missing {missing})")
    return {c.name: decode_value(c, data[c.name], dialect=dialect) for c in columns}
