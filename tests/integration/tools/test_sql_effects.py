"""SQL writes bound to their effect (docs/approvals.md, "SQL writes"): run_sql writes,
update_rows and delete_rows on SQLite and PostgreSQL, pooled and (PostgreSQL) bridge.

The effect is the statement as it executes and the rows it touches; a dry run shows the
effect the approval then binds (same SHA-256); rows changed between the request and the
decision void the approval and nothing runs; a change racing the execution is caught
under the rows' lock and rolled back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text, update

from paybill.server.core.vocabulary import Decision
from paybill.server.executors.dataplane.access import tenant_transaction, ungated
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import customers
from paybill.server.guards.effects_sql import KEY_SAMPLE
from paybill.server.store import Approval, AuditEvent, Tenant
from tests.support.served import Served

DELETE_DE = "DELETE FROM customers WHERE country = 'DE'"
SEED = [
    {"name": "c0", "country": "DE"},
    {"name": "c1", "country": "DE"},
    {"name": "c2", "country": "DE"},
    {"name": "c3", "country": "FR"},
    {"name": "c4", "country": "FR"},
]


# Every test using ``acme``: bridge storage is PostgreSQL only.
pytestmark = pytest.mark.postgres_only(params={"acme": "bridge"})


@pytest.fixture(params=["pooled", "bridge"])
def acme(request: pytest.FixtureRequest, backend: str, served: Served) -> Iterator[Served]:
    """acme with ``SEED``'s customers, in pooled storage or (PostgreSQL) moved to bridge."""
    if request.param == "bridge":
        pending = served.error("ops", "change_plan", tenant="acme", plan="pro")
        served.ok(
            "boss", "decide_approval", approval_id=_id(pending), decision="approve", reason="move"
        )
        assert served.drain() == 1
        assert served.ok("ops", "get_tenant", tenant="acme")["isolation"] == "bridge"
    served.ok("acme-admin", "insert_rows", tenant="acme", table="customers", rows=SEED)
    yield served


def _id(pending: dict[str, Any]) -> str:
    assert pending["code"] == "APPROVAL_REQUIRED", pending
    return str(pending["details"]["approval_id"])


def _customers(served: Served) -> dict[str, tuple[int, str]]:
    """name -> (id, country) of acme's customers."""
    found = served.ok("admin", "query_table", tenant="acme", table="customers", limit=1000)
    names = [c["name"] for c in found["columns"]]
    rows = [dict(zip(names, row, strict=True)) for row in found["rows"]]
    return {r["name"]: (r["id"], r["country"]) for r in rows}


def _ids(served: Served, country: str) -> list[int]:
    return sorted(i for i, c in _customers(served).values() if c == country)


def _decide(served: Served, approval_id: str) -> Any:
    return served.call(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="go ahead"
    )


def _approval(served: Served, approval_id: str) -> Approval:
    with served.services.db.session() as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None
        session.expunge(approval)
        return approval


def _route(served: Served) -> TenantRoute:
    with served.services.db.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "acme")).one()
        return TenantRoute(tenant.id, tenant.isolation)


def test_run_sql_dry_run_shows_the_effect_its_approval_binds(acme: Served) -> None:
    served = acme
    de = _ids(served, "DE")
    sql = "UPDATE customers SET country = 'NL' WHERE country = :c"
    dry = served.ok("admin", "run_sql", tenant="acme", sql=sql, params={"c": "DE"}, dry_run=True)
    assert dry["approval_required"] is True
    need = dry["approval"]
    assert (need["rule"], need["reason"]) == (
        "sql_write",
        "the statement modifies the tenant's data.",
    )
    effect = need["effect"]
    assert (effect["kind"], effect["summary"]) == ("sql_write", "UPDATE 3 rows in customers (acme)")
    details = effect["details"]
    assert (details["operation"], details["table"], details["rows"]) == ("UPDATE", "customers", 3)
    assert details["keys"] == {"columns": ["id"], "sample": de, "more": False}
    # The bound statement as the guard rewrote it: the tenant predicate added, the literal a
    # parameter, the values in params.
    assert "tenant_id" in details["statement"] and "'NL'" not in details["statement"]
    assert sorted(v for v in details["params"].values()) == sorted(
        ["NL", "DE", _route(served).tenant_id]
    )
    assert effect["tenant"]["slug"] == "acme" and len(details["rows_sha256"]) == 64
    assert _ids(served, "NL") == []  # a dry run changes nothing

    pending = served.error("admin", "run_sql", tenant="acme", sql=sql, params={"c": "DE"})
    assert pending["details"]["effect_sha256"] == effect["sha256"]
    shown = served.ok("boss", "get_approval", approval_id=_id(pending))["approval"]
    assert shown["effect_hash"] == effect["sha256"]
    assert shown["effect"]["details"]["keys"] == details["keys"]

    decided = _decide(served, _id(pending))
    assert not decided.is_error, decided.payload
    assert decided.payload["result"]["rows_affected"] == 3
    assert decided.payload["approval"]["status"] == "executed"
    assert _ids(served, "NL") == de and _ids(served, "DE") == []


def test_structured_dry_runs_tell_whether_and_why(acme: Served) -> None:
    served = acme
    small = served.ok(
        "acme-admin",
        "update_rows",
        tenant="acme",
        table="customers",
        values={"country": "IT"},
        filters=[{"column": "name", "op": "eq", "value": "c0"}],
        dry_run=True,
    )
    assert (small["approval_required"], small["approval"], small["rows_affected"]) == (
        False,
        None,
        1,
    )

    everything = {"tenant": "acme", "table": "customers", "values": {"country": "IT"}}
    dry = served.ok("acme-admin", "update_rows", **everything, dry_run=True)
    assert dry["approval_required"] is True and dry["approval"]["rule"] == "bulk_change"
    effect = dry["approval"]["effect"]
    assert effect["summary"] == "UPDATE 5 rows in customers (acme)"
    details = effect["details"]
    assert details["statement"].startswith("UPDATE customers SET country=")
    assert details["values"] == {"country": "IT"} and details["rows"] == 5
    pending = served.error("acme-admin", "update_rows", **everything)
    assert pending["details"]["effect_sha256"] == effect["sha256"]
    assert _decide(served, _id(pending)).payload["result"]["rows_affected"] == 5
    assert len(_ids(served, "IT")) == 5


def test_the_key_sample_is_bounded(acme: Served) -> None:
    served = acme
    more = [{"name": f"m{i}"} for i in range(KEY_SAMPLE)]
    served.ok("acme-admin", "insert_rows", tenant="acme", table="customers", rows=more)
    ids = sorted(i for i, _ in _customers(served).values())
    dry = served.ok("acme-admin", "delete_rows", tenant="acme", table="customers", dry_run=True)
    details = dry["approval"]["effect"]["details"]
    assert dry["approval"]["effect"]["summary"] == f"DELETE {len(ids)} rows from customers (acme)"
    assert details["keys"] == {"columns": ["id"], "sample": ids[:KEY_SAMPLE], "more": True}
    assert details["statement"].startswith("DELETE FROM customers WHERE customers.tenant_id =")
    pending = served.error("acme-admin", "delete_rows", tenant="acme", table="customers")
    assert pending["details"]["effect_sha256"] == dry["approval"]["effect"]["sha256"]
    assert _decide(served, _id(pending)).payload["result"]["rows_affected"] == len(ids)
    assert _customers(served) == {}


def _change(served: Served, how: str) -> None:
    """Change acme's DE customers as another caller would, through the tools."""
    c0 = [{"column": "name", "op": "eq", "value": "c0"}]
    rows = {"tenant": "acme", "table": "customers"}
    if how == "inserted":
        served.ok("acme-admin", "insert_rows", **rows, rows=[{"name": "c9", "country": "DE"}])
    elif how == "deleted":
        served.ok("acme-admin", "delete_rows", **rows, filters=c0)
    elif how == "moved out":  # no longer matches the statement's filter
        served.ok("acme-admin", "update_rows", **rows, values={"country": "FR"}, filters=c0)
    else:  # still matches, but is not the row it was when approved
        served.ok("acme-admin", "update_rows", **rows, values={"name": "c0 renamed"}, filters=c0)


@pytest.mark.parametrize("how", ["inserted", "deleted", "moved out", "edited"])
@pytest.mark.parametrize("tool", ["run_sql", "delete_rows"])
def test_rows_changed_after_the_request_void_the_approval(
    acme: Served, how: str, tool: str
) -> None:
    served = acme
    if tool == "run_sql":
        pending = served.error("admin", "run_sql", tenant="acme", sql=DELETE_DE)
    else:
        pending = served.error("acme-admin", "delete_rows", tenant="acme", table="customers")
    approval_id = _id(pending)
    _change(served, how)
    before = _customers(served)

    refused = _decide(served, approval_id)
    assert refused.is_error
    error = refused.payload["error"]
    assert (error["code"], error["details"]["reason"]) == ("CONFLICT", "effect_changed")
    assert "Nothing ran" in error["message"]
    why = error["details"]["why"]
    # delete_rows has no filter: a row moved out of DE is still one it deletes, but changed.
    if how in ("inserted", "deleted") or (how == "moved out" and tool == "run_sql"):
        assert "rows, not the" in why and "details.rows" in why
    else:
        assert "rows it would touch were changed" in why
    assert _customers(served) == before  # nothing applied
    approval = _approval(served, approval_id)
    assert (approval.status, approval.reason) == ("void", why)
    with served.services.db.session() as session:
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.tool == "decide_approval")
            .order_by(AuditEvent.id.desc())
        ).first()
        assert event is not None
        assert (event.decision, event.error_code) == (Decision.DENIED, "CONFLICT")
        assert why in (event.detail or "")
    # A fresh request binds what the write would do now.
    again = served.error("admin", "run_sql", tenant="acme", sql=DELETE_DE)
    assert _id(again) != approval_id


def _waiting_for_a_lock(served: Served) -> bool:
    with served.services.engines.shared.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar_one()
        )


# SQLite writers never overlap (the file's write lock serialises them): no insert can race.
@pytest.mark.postgres_only(params={"race": "inserted"})
@pytest.mark.parametrize("race", ["changed", "inserted"])
def test_a_change_racing_the_execution_is_rolled_back(
    acme: Served, backend: str, race: str
) -> None:
    """Another writer holds a DE row while the approval is decided: the guard's check still
    sees the approved rows, and the write's own check waits for the row's lock.

    changed: the writer changed that row; the check under lock sees it and rolls back.
    inserted (PostgreSQL): the writer only locked that row and inserted a new DE row; the
    check under lock still sees the approved rows, but the write, a statement of its own,
    meets the new row too: its row count is not the approved one and it rolls back."""
    served = acme
    de = _ids(served, "DE")
    approval_id = _id(served.error("admin", "run_sql", tenant="acme", sql=DELETE_DE))
    engines, route = served.services.engines, _route(served)
    holding, release = threading.Event(), threading.Event()
    first = customers.c.id == de[0]

    def hold_row() -> None:
        with tenant_transaction(
            engines, route, read_only=False, timeout_ms=10_000, gate=ungated
        ) as c:
            if race == "changed":
                c.execute(update(customers).where(first).values(country="FR"))
            else:
                c.execute(select(customers.c.id).where(first).with_for_update())
                row = {"tenant_id": route.tenant_id, "name": "late", "country": "DE"}
                c.execute(customers.insert().values(**row))
            holding.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=hold_row)
    holder.start()
    assert holding.wait(timeout=60)
    outcome: dict[str, Any] = {}
    decider = threading.Thread(target=lambda: outcome.update(result=_decide(served, approval_id)))
    decider.start()
    deadline = time.monotonic() + 60  # generous: a loaded machine is slow
    if backend == "postgresql":
        while not _waiting_for_a_lock(served) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _waiting_for_a_lock(served)
    else:
        # SQLite: the approval is committed "approved" as the guard's check starts its read;
        # the write then waits for the file's write lock.
        while _approval(served, approval_id).status != "approved" and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
    release.set()
    holder.join(timeout=60)
    decider.join(timeout=60)

    error = outcome["result"].payload["error"]
    assert error["details"]["reason"] == "effect_changed"
    why = error["details"]["why"]
    assert why.startswith("at execution, ")
    now = _customers(served)
    if race == "changed":
        assert "rows, not the 3 approved" in why
        assert _ids(served, "DE") == de[1:]  # the other DE rows were not deleted
    else:
        assert why.startswith("at execution, it changed 4 rows, not the 3 approved")
        assert _ids(served, "DE") == sorted([*de, now["late"][0]])
    assert _approval(served, approval_id).status == "void"
