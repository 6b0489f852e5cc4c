"""Metering is one upsert per data call (issue 15): the day's first call creates the
counter, the next ones add to it, each in one statement."""

from __future__ import annotations

from sqlalchemy import Engine, event, select

from paybill.server.executors.dataplane.metering import meter
from paybill.server.store import Tenant, UsageCounter
from tests.support.served import Served


def test_each_call_is_counted_in_one_statement(served: Served) -> None:
    db, now = served.services.db, served.services.clock()
    sent: list[str] = []
    listener = lambda _c, _cur, statement, *_rest: sent.append(statement)  # noqa: E731
    with db.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "acme")).one()
        session.execute(UsageCounter.__table__.delete().where(UsageCounter.tenant_id == tenant.id))
    for rows_read, rows_written in ((2, 0), (0, 3), (5, 1)):
        with db.session() as session:
            acme = session.get(Tenant, tenant.id)
            assert acme is not None
            event.listen(Engine, "before_cursor_execute", listener)
            try:
                meter(session, acme, now, rows_read=rows_read, rows_written=rows_written)
            finally:
                event.remove(Engine, "before_cursor_execute", listener)
    assert len(sent) == 3, sent  # no SELECT, no SAVEPOINT: one statement per call
    with db.session() as session:
        counter = session.scalars(
            select(UsageCounter).where(UsageCounter.tenant_id == tenant.id)
        ).one()
        assert (counter.day, counter.calls, counter.rows_read, counter.rows_written) == (
            now.date(),
            3,
            7,
            4,
        )
