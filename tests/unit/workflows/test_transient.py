"""Which step failures are transient (run again) and which fail the run."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.store.outage import is_transient
from paybill.server.workflows.engine.transient import backoff


class DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _wrapped(kind: type, sqlstate: str | None, invalidated: bool = False) -> Exception:
    return kind("SELECT 1", {}, DriverError(sqlstate), connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_wrapped(OperationalError, "57P01"), True),  # admin_shutdown: terminated backend
        (_wrapped(OperationalError, "08006"), True),  # connection failure
        (_wrapped(OperationalError, "40001"), True),  # serialization failure
        (_wrapped(OperationalError, "40P01"), True),  # deadlock detected
        (_wrapped(InterfaceError, None, invalidated=True), True),
        (_wrapped(OperationalError, "57014"), False),  # statement timeout: not a fault
        (_wrapped(ProgrammingError, "42P01"), False),
        (_wrapped(IntegrityError, "23505"), False),
        (OperationalError("x", {}, sqlite3.OperationalError("database is locked")), True),
        (ValueError("no"), False),
        (ProvisioningFailed("quota exceeded"), False),
    ],
)
def test_classification(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_typed_error_caused_by_a_dropped_connection_is_transient() -> None:
    try:
        try:
            raise _wrapped(OperationalError, "57P01")
        except OperationalError as cause:
            raise ProvisioningFailed("objects could not be created") from cause
    except ProvisioningFailed as error:
        assert is_transient(error)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, 0.5, 3) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
