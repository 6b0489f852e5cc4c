"""A PostgreSQL tenant transaction is scoped by one set_config statement (issue 15): its
reads are read-only, its statements time-bounded, and none of its settings outlives it on
the pooled connection the next transaction gets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from paybill.server.core.errors import QuotaExceeded
from paybill.server.executors.dataplane import access
from paybill.server.executors.dataplane.access import tenant_transaction, ungated
from tests.support.held import route_of
from tests.support.served import Served

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
SETTINGS = "SELECT current_setting('search_path'), current_setting('app.tenant_id', true), "
SETTINGS += "current_setting('statement_timeout'), current_setting('transaction_read_only')"


def test_a_read_is_read_only_and_scoped_in_one_statement(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = route_of(served, "acme")
    engines = served.services.engines
    sent: list[str] = []
    engine = engines.for_tenant(route, read_only=True)
    listener = lambda _c, _cur, statement, *_rest: sent.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    scope = access._scope_postgres  # sent on the driver's cursor: no SQLAlchemy event

    def scoping(*args: Any) -> None:
        sent.append(access._SCOPE)
        scope(*args)

    monkeypatch.setattr(access, "_scope_postgres", scoping)
    try:
        with tenant_transaction(
            engines, route, read_only=True, timeout_ms=1234, gate=ungated
        ) as conn:
            scoped = conn.execute(text(SETTINGS)).one()
            with pytest.raises(DBAPIError, match="read-only transaction"):
                conn.execute(text("UPDATE customers SET name = name"))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert tuple(scoped) == (route.schema, route.tenant_id, "1234ms", "on")
    # The scope is one statement before the caller's two.
    assert len(sent) == 3 and "set_config" in sent[0], sent


def test_a_write_is_read_write(served: Served) -> None:
    route = route_of(served, "acme")
    engines = served.services.engines
    with tenant_transaction(engines, route, read_only=False, timeout_ms=1234, gate=ungated) as conn:
        scoped = conn.execute(text(SETTINGS)).one()
        conn.execute(text("UPDATE customers SET name = name"))
    assert tuple(scoped) == (route.schema, route.tenant_id, "1234ms", "off")


def test_the_timeout_applies(served: Served) -> None:
    route = route_of(served, "acme")
    with (
        pytest.raises(QuotaExceeded),
        tenant_transaction(
            served.services.engines, route, read_only=True, timeout_ms=50, gate=ungated
        ) as conn,
    ):
        conn.execute(text("SELECT pg_sleep(5)"))


def test_no_setting_outlives_its_transaction(served: Served) -> None:
    route = route_of(served, "acme")
    engines = served.services.engines
    engine = engines.for_tenant(route, read_only=True)
    engine.dispose()  # one pooled connection: the next transaction reuses it
    with tenant_transaction(engines, route, read_only=True, timeout_ms=1234, gate=ungated) as conn:
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == backend
        after = conn.execute(text(SETTINGS)).one()
    assert route.schema not in after[0]
    assert after[1] in (None, "")
    assert after[2] != "1234ms"
    assert after[3] == "off"
