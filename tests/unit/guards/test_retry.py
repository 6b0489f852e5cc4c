"""Retry guard: only the tenant's latest run, only a failed one, and only from a tenant state
that retries its kind; the admitted run and its lifecycle action are carried on the call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from paybill.server.core.errors import PaybillError
from paybill.server.core.vocabulary import RunStatus
from paybill.server.domain.tenants import create_tenant
from paybill.server.guards.retry import check_retry
from paybill.server.store import WorkflowRun
from paybill.server.store.database import Database
from tests.support.guard_calls import LIFECYCLE, make_call, shipped

FAILED, SUCCEEDED = RunStatus.FAILED, RunStatus.SUCCEEDED
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("situation", "kind", "status", "latest", "state", "expected"),
    [
        ("failed provisioning", "provision", FAILED, True, "failed", "retry_provision"),
        ("failed plan change", "plan_change", FAILED, True, "failed", "retry_update"),
        ("failed migration", "isolation_migration", FAILED, True, "failed", "retry_update"),
        ("failed offboarding", "offboard", FAILED, True, "offboarding", None),
        ("failed deletion", "delete_tenant", FAILED, True, "archived", None),
        ("a run that succeeded", "provision", SUCCEEDED, True, "active", "INVALID_INPUT"),
        ("not the latest run", "provision", FAILED, False, "failed", "CONFLICT"),
        ("plan change, tenant active", "plan_change", FAILED, True, "active", "INVALID_TRANSITION"),
        (
            "offboarding, tenant archived",
            "offboard",
            FAILED,
            True,
            "archived",
            "INVALID_TRANSITION",
        ),
        ("an unknown kind", "teleport", FAILED, True, "failed", "INVALID_TRANSITION"),
    ],
)
def test_retry(store: Database, situation, kind, status, latest, state, expected) -> None:
    with Session(store.engine) as session:
        tenant = create_tenant(
            session, LIFECYCLE, slug="acme", name="Acme", plan_id="free", actor="t"
        )
        tenant.state = state
        run = WorkflowRun(
            tenant_id=tenant.id, kind=kind, status=status, input={}, created_by="t", created_at=T0
        )
        session.add(run)
        if not latest:
            later = T0 + timedelta(minutes=1)
            session.add(
                WorkflowRun(
                    tenant_id=tenant.id,
                    kind="provision",
                    status=SUCCEEDED,
                    input={},
                    created_by="t",
                    created_at=later,
                )
            )
        session.flush()
        call = make_call(
            shipped("retry_workflow"),
            target=tenant,
            session=session,
            arguments={"workflow_id": run.id},
        )
        if expected is None or expected.startswith("retry_"):
            check_retry(call)
            assert call.retry is not None
            assert (call.retry.run, call.retry.action) == (run, expected), situation
            return
        with pytest.raises(PaybillError) as refused:
            check_retry(call)
        assert refused.value.code == expected, situation
        assert call.retry is None


def test_tools_that_retry_nothing_pass() -> None:
    call = make_call(shipped("get_tenant"))
    check_retry(call)
    assert call.retry is None
