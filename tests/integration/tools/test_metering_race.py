"""Metering runs after a call's tenant work has committed, so a concurrent call of the same
tenant must not make it fail: the first calls of a day race to create the day's counter."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from paybill.server.executors.dataplane.metering import meter
from paybill.server.store import Tenant, UsageCounter
from tests.support.served import Served


def _blocked_on_a_lock(served: Served) -> bool:
    """True once a PostgreSQL store session waits on a lock (here: the counter's index entry,
    held by the uncommitted insert)."""
    with served.services.db.engine.connect() as conn:
        waiting = conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()
    return bool(waiting)


def test_racing_first_calls_of_a_day_both_count(served: Served) -> None:
    db, now = served.services.db, served.services.clock()
    with db.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "acme")).one()
        session.execute(UsageCounter.__table__.delete().where(UsageCounter.tenant_id == tenant.id))
    with Session(db.engine, expire_on_commit=False) as first:
        meter(first, first.get(Tenant, tenant.id), now, rows_read=2)  # not committed yet
        failures: list[BaseException] = []

        def second() -> None:
            try:
                with db.session() as session:
                    meter(session, session.get(Tenant, tenant.id), now, rows_written=3)
            except BaseException as error:  # reported by the assertion below
                failures.append(error)

        racing = threading.Thread(target=second)
        racing.start()
        if db.engine.dialect.name == "postgresql":  # SQLite: it waits for the write lock
            deadline = time.monotonic() + 20  # a bound for a hang, not a timing assertion
            while not _blocked_on_a_lock(served) and time.monotonic() < deadline:
                time.sleep(0.01)
        first.commit()
    racing.join(timeout=30)
    assert not racing.is_alive() and not failures, failures
    with db.session() as session:
        counter = session.scalars(
            select(UsageCounter).where(UsageCounter.tenant_id == tenant.id)
        ).one()
        assert (counter.calls, counter.rows_read, counter.rows_written) == (2, 2, 3)
