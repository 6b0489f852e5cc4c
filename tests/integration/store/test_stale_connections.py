"""Pooled PostgreSQL connections whose backend was terminated between calls are replaced
before a call uses them, without a ping on every checkout (``store.database``): the next
call succeeds and no error surfaces. A store that is down still answers UNAVAILABLE
(tests/e2e/test_outage.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from tests.support.held import route_of
from tests.support.served import Served

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _terminate_all(admin: Engine, database: str) -> int:
    """Terminate every backend on ``database`` (the store's and the tenants' pools) and wait
    until they are gone; how many there were."""
    where = "datname = :d AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    with admin.connect() as conn:
        pids = text(f"SELECT pid FROM pg_stat_activity WHERE {where}")
        killed = [pid for (pid,) in conn.execute(pids, {"d": database})]
        for pid in killed:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        deadline = time.monotonic() + 30  # a bound for a hang, not a timing assertion
        while time.monotonic() < deadline:
            left = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"), {"p": killed}
            ).scalar()
            if not left:
                break
            time.sleep(0.01)
    return len(killed)


@contextmanager
def pings(engines: list[Engine]) -> Iterator[list[Any]]:
    """The connections the checkout check pinged, on ``engines``."""
    pinged: list[Any] = []
    originals = {}
    for engine in engines:
        dialect = engine.dialect
        originals[engine] = dialect.do_ping

        def counting(dbapi_connection: Any, _real: Any = dialect.do_ping) -> bool:
            pinged.append(dbapi_connection)
            return bool(_real(dbapi_connection))

        dialect.do_ping = counting  # type: ignore[method-assign]
    try:
        yield pinged
    finally:
        for engine, original in originals.items():
            engine.dialect.do_ping = original  # type: ignore[method-assign]


def _calls(served: Served) -> None:
    served.ok("acme-bot", "query_table", tenant="acme", table="customers")
    served.ok("ops", "get_tenant", tenant="acme")


def test_a_call_after_its_connections_were_terminated_succeeds(served: Served, postgres) -> None:
    _calls(served)  # the store's and the tenant's pools hold a connection each
    engines = served.services.engines
    tenant = engines.for_tenant(route_of(served, "acme"), read_only=True)
    # Confirmed reads send their store statements on a pool of their own.
    store, confirmed = served.services.db.engine, served.services.db.autocommit
    with pings([store, confirmed, tenant]) as pinged:
        _calls(served)
        assert pinged == []  # a healthy pooled connection is used without a round trip
        database = make_url(served.services.settings.database_url).database
        assert database and _terminate_all(postgres.admin, database) >= 2
        _calls(served)  # no error surfaces: each dead connection is replaced first
        assert len(pinged) >= 2  # the store's and the tenant's dead connections
        pinged.clear()
        _calls(served)
        assert pinged == []  # their replacements are healthy
