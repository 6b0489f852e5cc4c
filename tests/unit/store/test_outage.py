"""The pipeline's and HTTP authentication's answer to a database fault: Unavailable (retry)
only for a transient one; a statement's own error stays what it is."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from paybill.server.core.errors import Unavailable
from paybill.server.store.outage import unavailable


class PsycopgLike(Exception):
    """What psycopg raises: a SQLSTATE, or None when the connection failed to open."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


PsycopgLike.__module__ = "psycopg"
PsycopgLike.__name__ = "OperationalError"


def _operational(sqlstate: str | None) -> OperationalError:
    return OperationalError("SELECT 1", {}, PsycopgLike(sqlstate))


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (_operational(None), True),  # connection refused, database not accepting connections
        (_operational("57P01"), True),  # backend terminated
        (_operational("53300"), True),  # too many connections
        (_operational("54001"), False),  # statement too complex: retrying cannot help
        (_operational("57014"), False),  # statement cancelled
        (_operational("53200"), False),  # out of memory for this statement
        (OperationalError("x", {}, sqlite3.OperationalError("database is locked")), True),
        (OperationalError("x", {}, sqlite3.OperationalError("no such column: q")), False),
    ],
)
def test_only_transient_faults_are_unavailable(error: Exception, retry: bool) -> None:
    answer = unavailable(error)
    assert isinstance(answer, Unavailable) is retry
    if answer is not None:
        assert answer.details["retry_after_seconds"] > 0
