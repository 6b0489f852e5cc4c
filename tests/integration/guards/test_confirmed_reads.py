"""Confirmed reads (guards.confirm): a call that changes nothing is decided on cached state
and confirmed by one statement before it acts. It must answer, refuse, count and audit
exactly as a call deciding from the store does, and a change committed before its
confirmation must decide it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text, update

from paybill.server.app import build_pipeline, build_services
from paybill.server.domain import confirmed_reads
from paybill.server.guards import confirm
from paybill.server.guards.pipeline import Pipeline
from paybill.server.store import AuditEvent, Plan, UsageCounter
from paybill.server.store.database import Database
from tests.support.served import Served, close

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
RATE = 3
QUERY = {"tenant": "acme", "table": "customers"}


@pytest.fixture
def confirmations(monkeypatch: pytest.MonkeyPatch) -> list[confirmed_reads.Confirmation]:
    """Every confirmation sent, as the store answered it."""
    seen: list[confirmed_reads.Confirmation] = []
    real = confirm.confirm_in_store

    def recording(*args: Any, **kwargs: Any) -> confirmed_reads.Confirmation:
        seen.append(real(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(confirm, "confirm_in_store", recording)
    return seen


@pytest.fixture
def elsewhere(served: Served) -> Iterator[Callable[[str], None]]:
    """A statement committed by another process (its own engine) on the same store."""
    other = Database(served.services.settings.database_url)

    def execute(sql: str) -> None:
        with other.engine.begin() as conn:
            conn.execute(text(sql))

    yield execute
    other.dispose()


def _events(served: Served) -> list[AuditEvent]:
    with served.services.db.session() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _calls_counted(served: Served) -> int:
    with served.services.db.session() as session:
        return sum(session.scalars(select(UsageCounter.calls)))


@contextmanager
def _customer_reads() -> Iterator[list[str]]:
    """Statements reading the tenant's customers, whichever engine sends them."""
    seen: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "customers" in statement:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", on_statement)


def test_a_read_is_confirmed_audited_and_counted_in_its_two_statements(
    served: Served, confirmations: list[confirmed_reads.Confirmation]
) -> None:
    served.ok("acme-bot", "query_table", **QUERY)  # caches warm, versions seen
    before, counted = len(_events(served)), _calls_counted(served)
    result = served.ok("acme-bot", "query_table", **QUERY)
    assert result["rows"] == []  # acme has no customers yet
    assert [c.current for c in confirmations[-1:]] == [True]
    events = _events(served)
    assert len(events) == before + 1
    last = events[-1]
    assert (last.principal, last.tool, last.decision.value, last.outcome) == (
        "acme-bot",
        "query_table",
        "allowed",
        "ok",
    )
    assert last.id == confirmations[-1].audit_id  # the id the confirmation drew
    assert _calls_counted(served) == counted + 1
    with served.services.db.session() as session:
        assert served.services.audit.verify(session).ok


def test_a_role_revoked_before_the_confirmation_refuses_the_call(
    served: Served,
    elsewhere: Callable[[str], None],
    confirmations: list[confirmed_reads.Confirmation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guards passed on cached bindings; the revocation commits after them and before
    the confirmation: the call is decided again from the store, refused, audited once, and
    never reaches the tenant."""
    served.ok("acme-bot", "query_table", **QUERY)
    real = confirm.confirm_in_store

    def revoking_first(*args: Any, **kwargs: Any) -> confirmed_reads.Confirmation:
        elsewhere("DELETE FROM casbin_rules WHERE v0 = 'user:acme-bot'")
        return real(*args, **kwargs)

    monkeypatch.setattr(confirm, "confirm_in_store", revoking_first)
    before = len(_events(served))
    with _customer_reads() as seen:
        refused = served.error("acme-bot", "query_table", **QUERY)
    assert refused["code"] == "DENIED"
    assert seen == []
    events = _events(served)[before:]
    assert [(e.decision.value, e.rule) for e in events] == [("denied", "authorise:DENIED")]


def test_a_cold_cache_decides_from_the_store(
    served: Served, confirmations: list[confirmed_reads.Confirmation]
) -> None:
    """A cache miss would read the store before the confirmation: the call is decided from
    the store instead, once."""
    served.ok("acme-bot", "query_table", **QUERY)
    served.services.principals.clear()
    served.services.tenants.clear()
    sent = len(confirmations)
    before = len(_events(served))
    served.ok("acme-bot", "query_table", **QUERY)
    assert len(confirmations) == sent  # never confirmed: decided from the store
    assert len(_events(served)) == before + 1
    served.ok("acme-bot", "query_table", **QUERY)
    assert len(confirmations) == sent + 1  # the caches are warm again


@pytest.fixture(params=[True, False], ids=["confirmed", "from-the-store"])
def limited(served: Served, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    """A replica with a principal rate of ``RATE`` and a stopped rate clock, deciding reads
    by confirmation or from the store."""
    settings = served.services.settings.model_copy(
        update={"rate_per_minute": RATE, "confirmed_reads": request.param}
    )
    services = build_services(settings, rate_clock=lambda: 0.0)
    yield build_pipeline(services)
    close(services)


def _outcomes(pipeline: Pipeline, calls: int, tool: str, principal: str, **raw: Any):
    outcomes = [pipeline.call(tool, principal, raw) for _ in range(calls)]
    return [o.payload["error"]["code"] if o.is_error else "ok" for o in outcomes]


def _tokens(served: Served, key: str) -> float:
    with served.services.db.session() as session:
        found = session.scalar(text("SELECT tokens FROM rate_buckets WHERE key = :k"), {"k": key})
    return float(found)


def test_a_principal_out_of_calls_is_refused_at_the_limits_stage(
    served: Served, limited: Pipeline
) -> None:
    before = len(_events(served))
    codes = _outcomes(limited, RATE + 1, "list_plans", "ops")
    assert codes == ["ok"] * RATE + ["QUOTA_EXCEEDED"]
    refused = _events(served)[before:][-1]
    assert (refused.decision.value, refused.rule) == ("denied", "limits:QUOTA_EXCEEDED")
    assert _tokens(served, "principal/ops") == 0.0  # each call took once, the refused none


def test_a_tenant_out_of_queries_is_refused_at_the_quota(served: Served, limited: Pipeline) -> None:
    with served.services.db.session() as session:
        session.execute(update(Plan).where(Plan.id == "free").values(queries_per_minute=2))
    before = len(_events(served))
    codes = _outcomes(limited, 3, "query_table", "acme-bot", **QUERY)
    assert codes == ["ok", "ok", "QUOTA_EXCEEDED"]
    refused = _events(served)[before:][-1]
    assert (refused.decision.value, refused.rule) == ("allowed", "execute:QUOTA_EXCEEDED")
    # The principal's bucket was charged once per call, the refused one included.
    assert _tokens(served, "principal/acme-bot") == RATE - 3


def test_a_run_sql_write_is_decided_from_the_store(
    served: Served, confirmations: list[confirmed_reads.Confirmation]
) -> None:
    """run_sql is attempted as a read; a write is decided again from the store before it
    asks for anything (here: its approval, created once), and never confirmed."""
    rows = [{"name": "Ada", "country": "DE"}]
    served.ok("admin", "insert_rows", tenant="acme", table="customers", rows=rows)
    read = "SELECT name FROM customers WHERE country = :c"
    assert served.ok("admin", "run_sql", tenant="acme", sql=read, params={"c": "DE"})
    sent, before = len(confirmations), len(_events(served))
    update = "UPDATE customers SET country = 'NL' WHERE country = :c"
    pending = served.error("admin", "run_sql", tenant="acme", sql=update, params={"c": "DE"})
    assert pending["code"] == "APPROVAL_REQUIRED"
    assert len(confirmations) == sent
    assert [e.outcome for e in _events(served)[before:]] == ["APPROVAL_REQUIRED"]
    with served.services.db.session() as session:
        pending_count = session.scalar(
            text("SELECT count(*) FROM approvals WHERE status = 'pending'")
        )
    assert pending_count == 1
    again = served.ok("admin", "run_sql", tenant="acme", sql=read, params={"c": "DE"})
    assert again["result"]["rows"] == [["Ada"]]  # nothing was written
    assert len(confirmations) == sent + 1


def test_a_call_without_tenant_work_is_confirmed_and_audited_in_one_statement(
    served: Served, confirmations: list[confirmed_reads.Confirmation]
) -> None:
    """Its event goes in with the confirmation, under an id drawn by an earlier one."""
    served.ok("ops", "get_tenant", tenant="acme")
    served.ok("ops", "get_tenant", tenant="acme")  # an id is kept by now
    before = len(_events(served))
    served.ok("ops", "get_tenant", tenant="acme")
    confirmed = confirmations[-1]
    assert confirmed.granted and confirmed.spare_id is not None
    events = _events(served)[before:]
    assert [(e.id, e.tool, e.outcome) for e in events] == [(confirmed.audit_id, "get_tenant", "ok")]
    assert confirmed.spare_id != confirmed.audit_id
    with served.services.db.session() as session:
        assert served.services.audit.verify(session).ok


def test_a_refused_call_without_tenant_work_writes_no_event_with_its_confirmation(
    served: Served, limited: Pipeline
) -> None:
    for _ in range(RATE):
        assert not limited.call("get_tenant", "ops", {"tenant": "acme"}).is_error
    before = len(_events(served))
    refused = limited.call("get_tenant", "ops", {"tenant": "acme"})
    assert refused.payload["error"]["code"] == "QUOTA_EXCEEDED"
    events = _events(served)[before:]
    assert [(e.decision.value, e.rule) for e in events] == [("denied", "limits:QUOTA_EXCEEDED")]


def test_a_tool_whose_handler_reads_the_store_confirms_before_it_runs(
    served: Served, confirmations: list[confirmed_reads.Confirmation]
) -> None:
    """list_tenants reads tenants in its handler: its first attempt goes back to the store
    when the handler reads; later calls confirm first, then read after the confirmation."""
    served.ok("ops", "get_tenant", tenant="acme")  # versions seen, caches warm
    served.ok("ops", "list_tenants")  # its handler reads: decided again from the store
    sent, before = len(confirmations), len(_events(served))
    listed = served.ok("ops", "list_tenants")
    assert {t["slug"] for t in listed["tenants"]} >= {"acme", "globex"}
    assert len(confirmations) == sent + 1
    assert [e.tool for e in _events(served)[before:]] == ["list_tenants"]
    with served.services.db.session() as session:
        assert served.services.audit.verify(session).ok
