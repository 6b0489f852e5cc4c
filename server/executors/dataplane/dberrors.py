"""A database's refusal of a guarded statement, said without echoing anything it quoted.

PostgreSQL and SQLite messages quote values (``invalid input syntax for type integer:
"<row text>"``), so the caller gets a fixed sentence chosen by SQLSTATE (PostgreSQL) or by
the message's fixed prefix (SQLite), never the message itself.
"""

from __future__ import annotations

from paybill.server.core.errors import SqlRejected

# SQLSTATE (exact, then its two-character class) -> what went wrong.
_SQLSTATE = {
    "22012": "division by zero",
    "22P02": "a value has the wrong type for the operation (type mismatch)",
    "22003": "a number is out of range for its type",
    "22007": "a date or time value is malformed",
    "22008": "a date or time value is out of range",
    "22001": "a text value is too long for its type",
    "2201B": "an invalid regular expression",
    "21000": "a subquery used as a value returned more than one row",
    "42804": "type mismatch",
    "42883": "no function or operator matches the argument types; add a cast",
    "42803": "a column must appear in GROUP BY or inside an aggregate",
    "42P18": "the type of a parameter could not be determined; add a cast",
    "42725": "an ambiguous function call; add a cast",
    "23502": "a required value is missing (NOT NULL)",
    "23505": "a value must be unique and already exists",
    "25006": "a read-only statement tried to change data",
    "0A000": "a feature the database does not support here",
    "22": "a value is invalid for the operation (data exception)",
    "23": "the change breaks a constraint of the table",
    "42": "the statement breaks a rule of the database (syntax or access rule)",
    "54": "the statement exceeds a database limit",
}
# Fixed prefixes of SQLite messages; the text after them is never repeated.
_SQLITE = (
    ("no such function", "a function the SQLite store does not provide"),
    ("no such column", "a column the SQLite store does not know"),
    ("misuse of aggregate", "an aggregate used where it is not allowed"),
    ("misuse of window function", "a window function used where it is not allowed"),
    ("wrong number of arguments", "a function called with the wrong number of arguments"),
    ("integer overflow", "a number is out of range"),
    ("near ", "a syntax the SQLite store does not accept"),
    ("ambiguous column", "an ambiguous column name"),
    ("sub-select returns", "a subquery returned more columns than expected"),
)


def database_refusal(sqlstate: str | None, message: str, *, postgres: bool) -> SqlRejected:
    """``SQL_REJECTED`` (rule ``database_error``) for a statement the database refused."""
    if postgres:
        code = sqlstate or ""
        reason = _SQLSTATE.get(code) or _SQLSTATE.get(code[:2]) or "an error the database reported"
        details = {"sqlstate": code} if code else {}
    else:
        text = message.lower()
        reason = next((r for p, r in _SQLITE if text.startswith(p)), "an error SQLite reported")
        details = {}
    return SqlRejected(
        f"SQL rejected (database_error): the database refused the statement: {reason}. "
        "Values from the data are not repeated here; fix the statement and try again.",
        rule="database_error",
        **details,
    )
