"""Tenant work holds no store resources: while one tenant's statements run, other principals'
store reads and writes go on (SQLite's write lock, PostgreSQL's store pool), and a tenant
runs at most ``tenant_concurrency`` statements at once. Real threads, held statements
(``tests.support.held``), no clocks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from paybill.server.guards.pipeline import Outcome
from tests.support.held import Calls, Held, route_of
from tests.support.served import Served

CAP = 4  # the default tenant_concurrency


@pytest.fixture
def small_pool(served: Served) -> Served:
    """On PostgreSQL the store's pool cut to one connection: a call holding it during tenant
    work would starve every other call. On SQLite the store's engine as served: its write
    lock is the resource a call would hold."""
    db = served.services.db
    if db.engine.dialect.name == "postgresql":
        db.engine.dispose()
        db.engine = create_engine(db.engine.url, pool_size=1, max_overflow=0, pool_timeout=20)
    return served


@pytest.fixture
def held_reads(small_pool: Served) -> Iterator[Held]:
    route = route_of(small_pool, "acme")
    engine = small_pool.services.engines.for_tenant(route, read_only=True)
    held = Held(engine, "customers", route.tenant_id)
    yield held
    held.close()


def _read(served: Served) -> Outcome:
    return served.call("acme-admin", "query_table", tenant="acme", table="customers")


def test_other_principals_use_the_store_while_a_tenant_statement_runs(
    small_pool: Served, held_reads: Held
) -> None:
    served = small_pool
    calls = Calls()
    for _ in range(CAP):
        calls.start(_read, served)
    assert held_reads.wait_started(CAP), "the tenant statements never started"
    # Every slow statement is still running: none has been released.
    plans = served.call("boss", "list_plans")
    created = served.call("ops", "create_tenant", slug="initech", name="Initech", plan="free")
    assert not plans.is_error, plans.payload
    assert not created.is_error, created.payload
    assert calls.running() == CAP  # none of the slow calls has ended meanwhile
    held_reads.release()
    assert all(not outcome.is_error for outcome in calls.join())


def test_a_full_tenant_is_refused_at_once_and_others_are_not(
    small_pool: Served, held_reads: Held
) -> None:
    served = small_pool
    calls = Calls()
    for _ in range(CAP):
        calls.start(_read, served)
    assert held_reads.wait_started(CAP)
    refused = _read(served)
    assert refused.is_error
    error = refused.payload["error"]
    assert error["code"] == "QUOTA_EXCEEDED"
    assert "retry" in error["message"].lower()
    assert error["details"]["limit"] == CAP
    assert held_reads.started == CAP  # refused before it reached the database
    other = served.call("ops", "query_table", tenant="globex", table="customers")
    assert not other.is_error, other.payload
    held_reads.release()
    assert all(not outcome.is_error for outcome in calls.join())
    assert served.services.tenant_slots.held(route_of(served, "acme").tenant_id) == 0
    assert not _read(served).is_error


def test_slots_come_back_when_tenant_statements_fail(small_pool: Served) -> None:
    served = small_pool
    route = route_of(served, "acme")
    engine = served.services.engines.for_tenant(route, read_only=True)
    held = Held(engine, "customers", route.tenant_id, fail=True)
    try:
        calls = Calls()
        for _ in range(CAP):
            calls.start(_read, served)
        assert held.wait_started(CAP)
        held.release()
        outcomes = calls.join()
    finally:
        held.close()
    assert [o.payload["error"]["code"] for o in outcomes] == ["INTERNAL"] * CAP
    assert served.services.tenant_slots.held(route.tenant_id) == 0
    assert not _read(served).is_error


def test_one_running_statement_leaves_the_store_writable(served: Served) -> None:
    # The store's own pool; on SQLite the call would otherwise keep the store's write lock
    # (BEGIN IMMEDIATE) for as long as its tenant statement runs.
    route = route_of(served, "acme")
    held = Held(
        served.services.engines.for_tenant(route, read_only=True), "customers", route.tenant_id
    )
    try:
        calls = Calls()
        calls.start(_read, served)
        assert held.wait_started(1)
        created = served.call("ops", "create_tenant", slug="initech", name="Initech", plan="free")
        assert not created.is_error, created.payload
        assert calls.running() == 1  # the slow call has not ended meanwhile
        held.release()
        assert not calls.join()[0].is_error
    finally:
        held.close()


def _customers(served: Served) -> int:
    return int(served.ok("ops", "query_table", tenant="acme", table="customers")["row_count"])


def test_a_retry_while_the_first_call_runs_is_refused_not_run_again(served: Served) -> None:
    # The key's transaction lock ends with the store transaction, before the tenant write:
    # the key is marked in flight first, so a concurrent retry cannot run the call twice.
    route = route_of(served, "acme")
    engine = served.services.engines.for_tenant(route, read_only=False)
    held = Held(engine, "INSERT", route.tenant_id)
    before = _customers(served)
    insert = {"tenant": "acme", "table": "customers", "rows": [{"name": "Ada", "country": "DE"}]}
    try:
        calls = Calls()
        calls.start(served.call, "acme-admin", "insert_rows", **insert, idempotency_key="k-held")
        assert held.wait_started(1)
        retry = served.error("acme-admin", "insert_rows", **insert, idempotency_key="k-held")
        assert retry["code"] == "CONFLICT"
        assert "still running" in retry["message"]
        held.release()
        first = calls.join()[0]
    finally:
        held.close()
    assert not first.is_error, first.payload
    again = served.call("acme-admin", "insert_rows", **insert, idempotency_key="k-held")
    assert again == first
    assert _customers(served) == before + 1


def test_a_failed_call_frees_its_key(served: Served) -> None:
    route = route_of(served, "acme")
    engine = served.services.engines.for_tenant(route, read_only=False)
    held = Held(engine, "INSERT", route.tenant_id, fail=True)
    insert = {"tenant": "acme", "table": "customers", "rows": [{"name": "Ada", "country": "DE"}]}
    held.release()
    try:
        failed = served.error("acme-admin", "insert_rows", **insert, idempotency_key="k-fail")
    finally:
        held.close()
    assert failed["code"] == "INTERNAL"
    retried = served.ok("acme-admin", "insert_rows", **insert, idempotency_key="k-fail")
    assert retried["rows_affected"] == 1


def test_an_approval_executes_at_most_once(served: Served) -> None:
    # The decision commits before the approved call's tenant work: a failure (or a crash)
    # after it leaves the approval approved, never pending again.
    pending = served.error("acme-admin", "delete_rows", tenant="acme", table="customers")
    assert pending["code"] == "APPROVAL_REQUIRED"
    approval_id = pending["details"]["approval_id"]
    before = _customers(served)
    route = route_of(served, "acme")
    engine = served.services.engines.for_tenant(route, read_only=False)
    held = Held(engine, "DELETE", route.tenant_id, fail=True)
    held.release()
    decide = {"approval_id": approval_id, "decision": "approve", "reason": "ok by me"}
    try:
        failed = served.error("boss", "decide_approval", **decide)
    finally:
        held.close()
    assert failed["code"] == "INTERNAL"
    statuses = {
        a["id"]: a["status"] for a in served.ok("boss", "list_approvals", status=None)["approvals"]
    }
    assert statuses[approval_id] == "approved"
    assert served.call("boss", "decide_approval", **decide).is_error
    assert _customers(served) == before


def test_a_tenant_changed_during_tenant_work_is_a_conflict(served: Served) -> None:
    # The call's reads end before its tenant work; a change that lands meanwhile makes its
    # later write stale (the tenant's version), which is refused, not applied over it.
    route = route_of(served, "acme")
    held = Held(
        served.services.engines.for_tenant(route, read_only=True), "customers", route.tenant_id
    )
    upgrade = {"tenant": "acme", "plan": "pro", "migrate_isolation": False}
    try:
        calls = Calls()
        calls.start(served.call, "ops", "change_plan", **upgrade)
        assert held.wait_started(1)
        served.ok("ops", "suspend_tenant", tenant="acme", reason="maintenance")
        held.release()
        [outcome] = calls.join()
    finally:
        held.close()
    assert outcome.is_error and outcome.payload["error"]["code"] == "CONFLICT", outcome.payload
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["state"]) == ("free", "suspended")


def test_an_approval_refused_for_a_full_tenant_stays_pending(served: Served) -> None:
    # The tenant's slots are taken before the decision commits: a full tenant refuses the
    # approved call (retry in a moment) with the approval still pending, not spent.
    pending = served.error("acme-admin", "delete_rows", tenant="acme", table="customers")
    approval_id = pending["details"]["approval_id"]
    before = _customers(served)
    decide = {"approval_id": approval_id, "decision": "approve", "reason": "ok by me"}
    tenant_id = route_of(served, "acme").tenant_id
    with ExitStack() as full:
        for _ in range(CAP):
            full.enter_context(served.services.tenant_slots.hold(tenant_id))
        refused = served.error("boss", "decide_approval", **decide)
    assert refused["code"] == "QUOTA_EXCEEDED", refused
    statuses = {
        a["id"]: a["status"] for a in served.ok("boss", "list_approvals", status=None)["approvals"]
    }
    assert statuses[approval_id] == "pending"
    assert _customers(served) == before
    decided = served.ok("boss", "decide_approval", **decide)
    assert decided["approval"]["status"] == "executed"
    assert _customers(served) == 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_store_fault_after_a_tenant_write_keeps_the_key_in_flight(served: Served) -> None:
    # The tenant rows are committed when the store connection dies under the call's later
    # writes (metering): the answer is a typed retry hint, and a retry with the same key must
    # not insert the rows a second time.
    store = served.services.db.engine  # PostgreSQL: a store backend terminated mid-call
    terminated: list[int] = []

    def terminate(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "usage_counters" in statement and not terminated:
            pid = conn.connection.dbapi_connection.info.backend_pid
            terminated.append(pid)
            with store.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:p, 10000)"), {"p": pid})
                other.commit()

    before = _customers(served)
    insert = {"tenant": "acme", "table": "customers", "rows": [{"name": "Ada", "country": "DE"}]}
    event.listen(store, "before_cursor_execute", terminate)
    try:
        failed = served.error("acme-admin", "insert_rows", **insert, idempotency_key="k-fault")
    finally:
        event.remove(store, "before_cursor_execute", terminate)
    assert terminated and failed["code"] == "INTERNAL", failed
    assert _customers(served) == before + 1  # the tenant write had committed
    retry = served.error("acme-admin", "insert_rows", **insert, idempotency_key="k-fault")
    assert retry["code"] == "CONFLICT" and "effect is unknown" in retry["message"], retry
    assert _customers(served) == before + 1
