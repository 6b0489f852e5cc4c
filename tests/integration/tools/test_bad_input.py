"""Bad input gets the right typed error and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect, select

from paybill.server.store import (
    Approval,
    IdempotencyRecord,
    LifecycleTransition,
    Subscription,
    Tenant,
    WorkflowRun,
)
from tests.support.served import Served

INVOICE = {"customer_id": 1, "amount_cents": 100, "currency": "EUR", "status": "open"}


def _id(value: int) -> dict[str, Any]:
    return {"column": "id", "op": "eq", "value": value}


BY_ID = [_id(1)]

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("get_tenant", {"tenant": "nosuch"}, "NOT_FOUND"),
    ("suspend_tenant", {"tenant": "nosuch", "reason": "why not"}, "NOT_FOUND"),
    ("get_tenant", {"tenant": 42}, "INVALID_INPUT"),
    ("get_tenant", {}, "INVALID_INPUT"),
    ("get_tenant", {"tenant": "acme", "extra": True}, "INVALID_INPUT"),
    ("list_tenants", {"limit": -1}, "INVALID_INPUT"),
    ("list_tenants", {"limit": "ten"}, "INVALID_INPUT"),
    ("list_tenants", {"limit": 1000}, "INVALID_INPUT"),
    ("list_tenants", {"cursor": "not-a-cursor!"}, "INVALID_INPUT"),
    ("get_audit_log", {"before_id": -5}, "INVALID_INPUT"),
    ("get_audit_log", {"before_id": 10**30}, "INVALID_INPUT"),
    # The audit id column is 32-bit: its old declared maximum failed inside the database.
    ("get_audit_log", {"before_id": 2**63 - 1}, "INVALID_INPUT"),
    ("get_audit_log", {"before_id": 2**31}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "nul", "name": "bad\x00name", "plan": "free"}, "INVALID_INPUT"),
    ("suspend_tenant", {"tenant": "acme", "reason": "bell\x07ring"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "new", "name": "N", "plan": "platinum"}, "NOT_FOUND"),
    ("create_tenant", {"slug": "acme", "name": "Again", "plan": "free"}, "CONFLICT"),
    ("create_tenant", {"slug": "Upper", "name": "N", "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "\u0430cme", "name": "Cyrillic a", "plan": "free"}, "INVALID_INPUT"),
    (
        "create_tenant",
        {"slug": "acme\u200b", "name": "zero width", "plan": "free"},
        "INVALID_INPUT",
    ),
    ("create_tenant", {"slug": "\uff41cme", "name": "fullwidth", "plan": "free"}, "INVALID_INPUT"),
    # Names people read: no bidi override, C1 control, zero-width, separator or private use.
    (
        "create_tenant",
        {"slug": "new", "name": "Acme \u202egnp.exe", "plan": "free"},
        "INVALID_INPUT",
    ),
    ("create_tenant", {"slug": "new", "name": "Acme\u009b31m", "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "new", "name": "Ac\u200bme", "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "new", "name": "Acme\u2028Corp", "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "new", "name": "Acme\ue000", "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "new", "name": "Acme\x7f", "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "new", "name": "   ", "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "-acme", "name": "N", "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "a" * 64, "name": "N", "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "new", "name": "N" * 201, "plan": "free"}, "INVALID_INPUT"),
    ("create_tenant", {"slug": "new", "name": "", "plan": "free"}, "INVALID_INPUT"),
    (
        "create_tenant",
        {"slug": "new", "name": "N", "plan": "free", "cloud": "mars"},
        "INVALID_INPUT",
    ),
    (
        "create_tenant",
        {"slug": "new", "name": "N", "plan": "free", "dry_run": "maybe"},
        "INVALID_INPUT",
    ),
    ("create_tenant", {"slug": "new", "name": "x" * 20000, "plan": "free"}, "INVALID_INPUT"),
    ("change_plan", {"tenant": "acme", "plan": "free"}, "INVALID_INPUT"),
    ("change_plan", {"tenant": "acme", "plan": "gold"}, "NOT_FOUND"),
    ("resume_tenant", {"tenant": "acme", "reason": "not suspended"}, "INVALID_TRANSITION"),
    ("suspend_tenant", {"tenant": "acme", "reason": "x"}, "INVALID_INPUT"),
    (
        "suspend_tenant",
        {"tenant": "acme", "reason": "ok!", "idempotency_key": "bad key"},
        "INVALID_INPUT",
    ),
    ("get_workflow", {"workflow_id": "../../etc/passwd"}, "INVALID_INPUT"),
    ("get_workflow", {"workflow_id": "00000000-0000-0000-0000-000000000000"}, "NOT_FOUND"),
    (
        "decide_approval",
        {
            "approval_id": "00000000-0000-0000-0000-000000000000",
            "decision": "approve",
            "reason": "sure",
        },
        "NOT_FOUND",
    ),
    (
        "decide_approval",
        {
            "approval_id": "00000000-0000-0000-0000-000000000000",
            "decision": "yolo",
            "reason": "sure",
        },
        "INVALID_INPUT",
    ),
    (
        "offboard_tenant",
        {"tenant": "acme", "confirm_slug": "acme", "reason": "r" * 501},
        "INVALID_INPUT",
    ),
    # Integers beyond their column: 2**40 in a 32-bit column (PostgreSQL refused it in the
    # driver, SQLite stored it), 2**70 anywhere (no column is wider than 64 bits).
    *[
        (tool, {"tenant": "acme", "table": "invoices", **arguments}, "INVALID_INPUT")
        for tool, arguments in [
            ("insert_rows", {"rows": [{**INVOICE, "amount_cents": 2**40}]}),
            ("insert_rows", {"rows": [{**INVOICE, "amount_cents": -(2**31) - 1}]}),
            ("insert_rows", {"rows": [{**INVOICE, "customer_id": 2**70}]}),
            ("insert_rows", {"rows": [{**INVOICE, "customer_id": 2**63}]}),
            ("update_rows", {"values": {"amount_cents": 2**40}, "filters": BY_ID}),
            ("update_rows", {"values": {"status": "paid"}, "filters": [_id(2**70)]}),
            ("delete_rows", {"filters": [_id(2**64)]}),
            ("query_table", {"filters": [{"column": "amount_cents", "op": "gt", "value": 2**40}]}),
            ("query_table", {"filters": [{**_id(0), "op": "in", "value": [1, 2**70]}]}),
        ]
    ],
    (
        "run_sql",
        {"tenant": "acme", "sql": "SELECT 1 AS n", "params": {"n": 2**70}},
        "INVALID_INPUT",
    ),
]


@pytest.fixture
def served(shared_served: Served) -> Served:
    """Every call here is refused: the tests share one populated store per backend (a test
    that changes it fails)."""
    return shared_served


def _snapshot(served: Served) -> dict[str, list]:
    models = (Tenant, Subscription, LifecycleTransition, WorkflowRun, Approval, IdempotencyRecord)
    with served.services.db.session() as session:
        return {
            m.__tablename__: sorted(
                str([(c.key, str(getattr(row, c.key))) for c in inspect(m).column_attrs])
                for row in session.scalars(select(m))
            )
            for m in models
        }


@pytest.mark.parametrize(("tool", "arguments", "code"), CASES)
def test_bad_input(served: Served, tool: str, arguments: dict, code: str) -> None:
    before = _snapshot(served)
    principal = "boss" if tool == "decide_approval" else "admin"
    error = served.error(principal, tool, **arguments)
    assert error["code"] == code, error
    assert error["message"]
    assert _snapshot(served) == before


def test_invalid_input_names_fields_without_echoing_values(served: Served) -> None:
    error = served.error("admin", "create_tenant", slug="<script>x</script>", name="N", plan="free")
    assert error["details"]["problems"][0]["field"] == "slug"
    assert "<script>" not in str(error)
