"""Result shaping converts a column at a time and sizes all rows with one encoding: the
output is byte for byte what converting and sizing each cell and row gave, for every value
type a tenant database returns (SQLite columns mix types), at every byte budget."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from paybill.server.core.errors import QuotaExceeded, too_large
from paybill.tools.data_models import data_result, json_value

NOW = dt.datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=dt.UTC)


class Stamp(dt.datetime):
    """A datetime subclass (drivers and libraries make them): converted by json_value."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "stamp " + super().isoformat(sep, timespec)


COLUMNS: dict[str, list[Any]] = {
    "integer": [1, -(2**63), 2**63 - 1, None],
    "text": ["Ada", "", 'Grüße ✓ \u2028 "quoted" \\', None],
    "boolean": [True, False, None, True],
    "float": [1.5, float("nan"), float("inf"), None],
    "decimal": [Decimal("12.34"), Decimal("1e-30"), Decimal("123456789012345678901.5"), None],
    "timestamptz": [
        NOW,
        NOW.replace(tzinfo=None),
        None,
        NOW.astimezone(dt.timezone(dt.timedelta(hours=5))),
    ],
    "date": [dt.date(2026, 1, 2), None, dt.date(1, 1, 1), dt.date(9999, 12, 31)],
    "date_and_time": [NOW, dt.date(2026, 1, 2), None, NOW],
    "subclass": [Stamp(2026, 1, 2), None, NOW, Stamp(2026, 1, 3)],
    "uuid": [uuid.UUID(int=1), None, uuid.UUID(int=2**128 - 1), uuid.UUID(int=7)],
    "json": [{"a": [1, 2.5, None]}, [1, "x"], None, {"nested": {"b": True}}],
    "bytes": [b"\x00\xff", memoryview(b"abc"), None, b""],
    "interval": [dt.timedelta(days=1, seconds=3), None, dt.timedelta(0), dt.timedelta(-1)],
    "time": [dt.time(1, 2, 3), None, dt.time(0), dt.time(23, 59, 59, 999999)],
    "mixed": [1, "one", 1.0, NOW],  # SQLite: a column's values need not share a type
    "null": [None, None, None, None],
}


def _reference(
    names: list[str], rows: list[tuple[Any, ...]], limit: int, max_bytes: int
) -> dict[str, Any]:
    """data_result as it was: each cell through json_value, each row encoded to count."""
    kept = rows[:limit]
    out: list[list[Any]] = []
    size, cut = 0, False
    for row in kept:
        values = [json_value(v) for v in row]
        size += len(json.dumps(values, default=str, ensure_ascii=False).encode())
        if size > max_bytes:
            if not out:
                raise too_large(max_bytes)
            cut = True
            break
        out.append(values)
    return {"rows": out, "row_count": len(out), "truncated": len(rows) > limit or cut}


def _rows(names: list[str], count: int) -> list[tuple[Any, ...]]:
    return [tuple(COLUMNS[n][i % 4] for n in names) for i in range(count)]


def _encoded(result: Any) -> str:
    return json.dumps(result.model_dump(mode="json"), ensure_ascii=False, default=str)


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_each_column_type_shapes_as_before(name: str) -> None:
    names = ["id", name]
    rows = [(i, COLUMNS[name][i]) for i in range(4)]
    result = data_result(names, rows, 10, max_bytes=10**6)
    expected = _reference(names, rows, 10, 10**6)
    assert json.dumps(result.rows, default=str) == json.dumps(expected["rows"], default=str)
    assert result.row_count == 4 and not result.truncated


def test_every_type_together_at_every_byte_budget() -> None:
    names = sorted(COLUMNS)
    rows = _rows(names, 9)
    whole = len(json.dumps([json_value(v) for v in rows[0]], default=str, ensure_ascii=False))
    for max_bytes in range(whole - 3, whole * 10, 7):
        for limit in (1, 5, 9, 20):
            try:
                expected = _reference(names, rows, limit, max_bytes)
            except QuotaExceeded:
                with pytest.raises(QuotaExceeded):
                    data_result(names, rows, limit, max_bytes=max_bytes)
                continue
            result = data_result(names, rows, limit, max_bytes=max_bytes)
            dumped = result.model_dump(mode="json")
            assert json.dumps(dumped["rows"], default=str) == json.dumps(
                _reference_dumped(names, rows, limit, max_bytes), default=str
            )
            assert (result.row_count, result.truncated) == (
                expected["row_count"],
                expected["truncated"],
            )
            assert result.truncated_by == (
                "bytes"
                if expected["row_count"] < min(limit, len(rows))
                else ("rows" if len(rows) > limit else None)
            )


def _reference_dumped(
    names: list[str], rows: list[tuple[Any, ...]], limit: int, max_bytes: int
) -> list[Any]:
    """The reference rows as the result model serialises them (mode="json")."""
    expected = _reference(names, rows, limit, max_bytes)
    model = data_result(names[:0], [], 1, max_bytes=1).model_copy(update={"rows": expected["rows"]})
    return list(model.model_dump(mode="json")["rows"])


def test_no_rows_and_rows_of_no_columns() -> None:
    assert data_result([], [], 5, max_bytes=10).rows == []
    assert data_result([], [(), ()], 5, max_bytes=10).rows == [[], []]
    assert _encoded(data_result(["a"], [], 5, max_bytes=10)).count('"rows": []') == 1


def test_converted_rows_are_new_lists() -> None:
    rows = [(1, "a"), (2, "b")]
    result = data_result(["id", "name"], rows, 5, max_bytes=100)
    assert result.rows == [[1, "a"], [2, "b"]] and all(isinstance(r, list) for r in result.rows)
