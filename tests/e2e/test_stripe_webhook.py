"""POST /webhooks/stripe on a running `paybill serve`: events signed the way Stripe signs
them (``t=<unix time>,v1=<HMAC-SHA256 of "<t>.<body>">``), sent with a real HTTP client."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from paybill.server.store import AuditEvent, Subscription, Tenant
from tests.support.served import Served
from tests.support.serving import paybill_http

SECRET = "whsec_paybill_test_0123456789abcdef"
DAY = 86_400


def _signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


def _event(event_id: str, kind: str, obj: dict[str, Any], created: int | None = None) -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": kind,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


def _subscription(status: str, tenant: str = "acme", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    item = {"current_period_start": now, "current_period_end": now + 30 * DAY}
    return {
        "id": "sub_123",
        "object": "subscription",
        "status": status,
        "metadata": {"paybill_tenant": tenant},
        "items": {"object": "list", "data": [item]},
        **extra,
    }


def _invoice(tenant: str = "acme") -> dict[str, Any]:
    details = {"subscription": "sub_123", "metadata": {"paybill_tenant": tenant}}
    return {"id": "in_1", "object": "invoice", "parent": {"subscription_details": details}}


@pytest.fixture
def webhook(served: Served) -> Iterator[httpx2.Client]:
    env = {
        **served.env(),
        "PAYBILL_STRIPE_WEBHOOK_SECRET": SECRET,
        "PAYBILL_STRIPE_PRINCIPAL": "billing",
    }
    with (
        paybill_http(env, "streamable-http") as port,
        httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        yield client


def _post(client: httpx2.Client, body: bytes, **signing: Any) -> httpx2.Response:
    return client.post("/webhooks/stripe", content=body, headers=_signed(body, **signing))


def _status(served: Served, slug: str = "acme") -> str:
    with served.services.db.session() as session:
        sub = session.scalar(
            select(Subscription)
            .join(Tenant, Tenant.id == Subscription.tenant_id)
            .where(Tenant.slug == slug)
        )
        assert sub is not None
        return sub.status.value


def _audited(served: Served, rule: str) -> list[AuditEvent]:
    with served.services.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.rule == rule)))


def test_events_set_the_billing_state_once_and_in_order(
    served: Served, webhook: httpx2.Client
) -> None:
    now = int(time.time())
    failed = _event("evt_failed", "invoice.payment_failed", _invoice(), created=now - 60)
    answer = _post(webhook, failed)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "received": True,
        "event": "evt_failed",
        "type": "invoice.payment_failed",
        "applied": True,
        "status": "past_due",
    }
    assert _status(served) == "past_due"

    paid = _event("evt_paid", "invoice.paid", _invoice(), created=now)
    assert _post(webhook, paid).json()["applied"] is True
    assert _status(served) == "active"
    # Redelivered: the first answer again, nothing applied twice.
    again = _post(webhook, failed)
    assert again.status_code == 200 and again.json()["status"] == "past_due"
    assert _status(served) == "active"
    # An older event delivered late is acknowledged and ignored.
    late = _event("evt_late", "customer.subscription.updated", _subscription("past_due"), now - 30)
    stale = _post(webhook, late)
    assert stale.status_code == 200
    assert stale.json()["applied"] is False
    assert "was applied already" in stale.json()["ignored_because"]
    assert _status(served) == "active"

    deleted = _event(
        "evt_gone", "customer.subscription.deleted", _subscription("canceled"), now + 1
    )
    assert _post(webhook, deleted).json()["status"] == "canceled"
    assert _status(served) == "canceled"
    # Canceled cannot become past_due: acknowledged (a retry would never succeed), audited.
    final = _event("evt_final", "invoice.payment_failed", _invoice(), created=now + 2)
    refused = _post(webhook, final)
    assert refused.status_code == 200 and refused.json()["applied"] is False
    assert _status(served) == "canceled"
    with served.services.db.session() as session:
        calls = session.scalars(
            select(AuditEvent.outcome).where(
                AuditEvent.tool == "set_billing_state", AuditEvent.principal == "billing"
            )
        ).all()
    assert calls.count("INVALID_TRANSITION") == 1


def test_bad_signatures_are_refused_and_audited(served: Served, webhook: httpx2.Client) -> None:
    body = _event("evt_forged", "invoice.payment_failed", _invoice())
    wrong_key = _post(webhook, body, secret="whsec_not_the_endpoints_secret_00")
    assert wrong_key.status_code == 401
    assert wrong_key.json()["error"]["code"] == "UNAUTHENTICATED"
    replayed = _post(webhook, body, at=int(time.time()) - 3600)  # outside the tolerance
    assert replayed.status_code == 401
    unsigned = webhook.post("/webhooks/stripe", content=body)
    assert unsigned.status_code == 401
    tampered = webhook.post(
        "/webhooks/stripe",
        content=body.replace(b"acme", b"globex"),
        headers=_signed(body),
    )
    assert tampered.status_code == 401
    assert _status(served) == "active" and _status(served, "globex") == "active"
    refusals = _audited(served, "webhook:UNAUTHENTICATED")
    assert len(refusals) == 4
    assert all(event.arguments == {} for event in refusals)  # unverified bodies are not kept


def test_bad_events_get_typed_answers_and_change_nothing(
    served: Served, webhook: httpx2.Client
) -> None:
    unknown = _post(webhook, _event("evt_nobody", "invoice.paid", _invoice("nosuch")))
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "NOT_FOUND"
    untagged = _subscription("past_due", metadata={})
    no_tenant = _post(webhook, _event("evt_untagged", "customer.subscription.updated", untagged))
    assert no_tenant.status_code == 400
    assert "paybill_tenant" in no_tenant.json()["error"]["message"]
    not_json = _post(webhook, b"{not json")
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "INVALID_INPUT"
    other = _post(webhook, _event("evt_other", "customer.created", {"id": "cus_1"}))
    assert other.status_code == 200
    assert other.json()["applied"] is False and "does not act on" in other.json()["ignored_because"]
    assert webhook.get("/webhooks/stripe").status_code == 405
    assert _status(served) == "active"
    assert len(_audited(served, "webhook:INVALID_INPUT")) == 2
    assert len(_audited(served, "webhook:IGNORED")) == 1


def test_the_mcp_endpoint_still_needs_a_bearer_key(webhook: httpx2.Client) -> None:
    assert webhook.post("/mcp", json={}).status_code == 401
