"""Each tool's MCP annotations say what it really does (``ToolSpec.writes``, ``repeatable``).

Every tool is called twice with the same arguments, no idempotency key, on a populated
store, and the state is read before, between and after (the control plane's every row, less
the audit log, metering and idempotency records; acme's tenant rows):

- ``readOnlyHint``: neither call changes anything;
- ``destructiveHint`` false: the first call only adds rows; true: it changes or removes a
  row that was there before.

A call that waits for an approval is approved at once: the hints describe the effect that the
approval lets happen.
- ``idempotentHint`` true: the second call changes nothing more; false: it does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane.access import tenant_transaction, ungated
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import customers
from paybill.server.mcp.adapter import annotations_of
from paybill.server.store import Tenant, WorkflowRun
from paybill.server.store.base import Base
from paybill.server.workflows.engine.worker import Worker
from paybill.tools import all_tools
from tests.support.faults import FailsOnce
from tests.support.served import Served

# Bookkeeping every call writes, whatever the tool does (control_versions: the counters
# any write of a principal, tenant or ACL rule moves, for the caches).
BOOKKEEPING = {"audit_events", "usage_counters", "idempotency_records", "control_versions"}
State = dict[str, set[tuple[Any, ...]]]
# The call's arguments, from the served store and what the case's ``prepare`` returned.
Arguments = Callable[[Served, Any], dict[str, Any]]


def _state(served: Served) -> State:
    state: State = {}
    with served.services.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name not in BOOKKEEPING:
                state[table.name] = {_hashable(row) for row in conn.execute(select(table))}
        acme = conn.execute(select(Tenant.id).where(Tenant.slug == "acme")).scalar_one()
    route = TenantRoute(acme, Isolation.POOLED)
    with tenant_transaction(
        served.services.engines, route, read_only=True, timeout_ms=10_000, gate=ungated
    ) as tenant:
        rows = tenant.execute(select(customers).where(customers.c.tenant_id == acme))
        state["acme.customers"] = {_hashable(row) for row in rows}
    return state


def _hashable(row: Any) -> tuple[Any, ...]:
    return tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in row)


def _changed_or_removed(before: State, after: State) -> list[str]:
    return [name for name, rows in before.items() if not rows <= after[name]]


def _customer(served: Served) -> int:
    rows = served.ok("admin", "query_table", tenant="acme", table="customers", columns=["id"])
    return int(rows["rows"][0][0])  # rows are lists, in the order of "columns"


def _acme_run(served: Served) -> str:
    with served.services.db.session() as session:
        run = session.scalar(
            select(WorkflowRun.id)
            .join(Tenant, Tenant.id == WorkflowRun.tenant_id)
            .where(Tenant.slug == "acme")
        )
    assert run is not None
    return run


def _pending_offboarding(served: Served) -> str:
    refused = served.error("ops", "offboard_tenant", tenant="acme", confirm_slug="acme", **WHY)
    assert refused["code"] == "APPROVAL_REQUIRED", refused
    return str(refused["details"]["approval_id"])


def _failed_run(served: Served) -> str:
    served.services.provisioner = FailsOnce(served.services.provisioner)
    created = served.ok("ops", "create_tenant", slug="flaky", name="F", plan="free")
    served.drain()
    return str(created["workflow"]["id"])


def _held_run(served: Served) -> str:
    created = served.ok("ops", "create_tenant", slug="stuck", name="S", plan="free")
    run_id = str(created["workflow"]["id"])
    assert Worker(served.services, owner="dead-worker").claim() == run_id
    return run_id


@dataclass(frozen=True)
class Case:
    principal: str
    arguments: Arguments
    prepare: Callable[[Served], Any] | None = None


def _fixed(**arguments: Any) -> Arguments:
    return lambda _served, _prepared: arguments


ACME = {"tenant": "acme"}
WHY = {"reason": "annotation check"}
CASES: dict[str, Case] = {
    "list_plans": Case("ops", _fixed()),
    "create_tenant": Case("ops", _fixed(slug="newco", name="New", plan="free")),
    "get_tenant": Case("ops", _fixed(**ACME)),
    "list_tenants": Case("ops", _fixed()),
    "suspend_tenant": Case("ops", _fixed(**ACME, **WHY)),
    "resume_tenant": Case(
        "ops",
        _fixed(**ACME, **WHY),
        prepare=lambda s: s.ok("ops", "suspend_tenant", **ACME, **WHY),
    ),
    "change_plan": Case("ops", _fixed(**ACME, plan="pro")),
    "set_billing_state": Case("billing", _fixed(**ACME, status="past_due")),
    "offboard_tenant": Case("ops", _fixed(**ACME, confirm_slug="acme", **WHY)),
    "get_workflow": Case("ops", lambda s, _: {"workflow_id": _acme_run(s)}),
    "retry_workflow": Case("ops", lambda _, run: {"workflow_id": run}, prepare=_failed_run),
    "break_workflow_lock": Case(
        "admin", lambda _, run: {"workflow_id": run, **WHY}, prepare=_held_run
    ),
    "list_approvals": Case("boss", _fixed()),
    "get_approval": Case(
        "boss", lambda _, approval: {"approval_id": approval}, prepare=_pending_offboarding
    ),
    "decide_approval": Case(
        "boss",
        lambda _, approval: {"approval_id": approval, "decision": "approve", **WHY},
        prepare=_pending_offboarding,
    ),
    "get_audit_log": Case("ops", _fixed(**ACME)),
    "describe_schema": Case("admin", _fixed(**ACME)),
    "query_table": Case("admin", _fixed(**ACME, table="customers")),
    "run_sql": Case(
        "admin",
        lambda s, _: {
            **ACME,
            "sql": f"UPDATE customers SET name = name || '!' WHERE id = {_customer(s)}",
        },
    ),
    "insert_rows": Case("admin", _fixed(**ACME, table="customers", rows=[{"name": "Grace"}])),
    "update_rows": Case(
        "admin",
        lambda s, _: {
            **ACME,
            "table": "customers",
            "values": {"name": "Renamed"},
            "filters": [{"column": "id", "op": "eq", "value": _customer(s)}],
        },
    ),
    "delete_rows": Case(
        "admin",
        lambda s, _: {
            **ACME,
            "table": "customers",
            "filters": [{"column": "id", "op": "eq", "value": _customer(s)}],
        },
    ),
    "get_usage": Case("ops", _fixed(**ACME)),
    "list_workflows": Case("ops", _fixed(**ACME)),
    "list_principals": Case("admin", _fixed()),
    "disable_principal": Case("admin", _fixed(name="acme-bot")),
    "rotate_principal_key": Case("admin", _fixed(name="admin")),
}


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """What a tool does to state is the same on both stores (the data plane's isolation is
    tested per backend elsewhere): one backend keeps these 27 double calls cheap."""
    return str(request.param)


def test_every_tool_has_a_case() -> None:
    assert set(CASES) == {spec.name for spec in all_tools()}


def _call_approved(served: Served, principal: str, tool: str, arguments: dict[str, Any]) -> None:
    """Call the tool; if the call waits for an approval, approve it: what the hints describe
    is the effect of the call, which an approval only lets happen."""
    outcome = served.call(principal, tool, **arguments)
    error = outcome.payload["error"] if outcome.is_error else {}
    if error.get("code") == "APPROVAL_REQUIRED":
        approval = error["details"]["approval_id"]
        served.ok("boss", "decide_approval", approval_id=approval, decision="approve", **WHY)


@pytest.mark.parametrize("spec", all_tools(), ids=lambda spec: spec.name)
def test_annotations_match_what_the_tool_does(served: Served, spec: Any) -> None:
    case = CASES[spec.name]
    served.ok("admin", "insert_rows", **ACME, table="customers", rows=[{"name": "Ada"}])
    prepared = case.prepare(served) if case.prepare else None
    arguments = case.arguments(served, prepared)
    before = _state(served)
    _call_approved(served, case.principal, spec.name, arguments)
    first = _state(served)
    _call_approved(served, case.principal, spec.name, arguments)
    second = _state(served)

    hints = annotations_of(spec)
    if hints.read_only_hint:
        assert first == before and second == before, "a read-only tool changed state"
        return
    assert first != before, f"{spec.name} changed nothing: the case does not exercise it"
    assert (second == first) is hints.idempotent_hint, "idempotentHint"
    changed = _changed_or_removed(before, first)
    assert bool(changed) is hints.destructive_hint, f"destructiveHint (changed: {changed})"
