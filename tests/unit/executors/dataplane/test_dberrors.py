"""A database's refusal is reported by SQLSTATE or fixed prefix, never with its quoted values."""

from __future__ import annotations

import pytest

from paybill.server.executors.dataplane.dberrors import database_refusal

SECRET = "Ada Lovelace <ada@example.com>"


@pytest.mark.parametrize(
    ("sqlstate", "message", "says"),
    [
        ("22P02", f'invalid input syntax for type integer: "{SECRET}"', "type mismatch"),
        ("22012", "division by zero", "division by zero"),
        ("22021", f'invalid byte sequence: "{SECRET}"', "data exception"),
        ("42883", f"function lower(integer) does not exist {SECRET}", "add a cast"),
        (
            "23502",
            f'null value in column "name"\nDETAIL: Failing row contains ({SECRET})',
            "NOT NULL",
        ),
        (
            "23514",
            f"new row violates check constraint\nDETAIL: Failing row contains ({SECRET})",
            "constraint",
        ),
        ("XX000", SECRET, "an error the database reported"),
        (None, SECRET, "an error the database reported"),
    ],
)
def test_postgres_refusals_are_fixed_sentences(
    sqlstate: str | None, message: str, says: str
) -> None:
    error = database_refusal(sqlstate, message, postgres=True)
    assert error.code == "SQL_REJECTED" and error.details["rule"] == "database_error"
    assert says in error.message and SECRET not in error.message
    assert SECRET not in str(error.details)


@pytest.mark.parametrize(
    ("message", "says"),
    [
        (f"no such function: {SECRET}", "function"),
        (f'near "{SECRET}": syntax error', "syntax"),
        (SECRET, "an error SQLite reported"),
    ],
)
def test_sqlite_refusals_are_fixed_sentences(message: str, says: str) -> None:
    error = database_refusal(None, message, postgres=False)
    assert says in error.message and SECRET not in error.message
