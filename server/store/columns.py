"""Enum columns stored as checked strings, portable across SQLite and PostgreSQL."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum


def enum_column_type(enum_cls: type[StrEnum], name: str) -> Enum:
    """A VARCHAR with a CHECK constraint listing the enum's values."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_cls),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
