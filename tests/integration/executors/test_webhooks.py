"""Approval notifications end to end: queued with the approval, delivered to a real local
receiver, signed, retried with backoff, bounded, never blocking the call, never doubled."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from paybill.server.core.errors import InvalidInput
from paybill.server.domain.notifications import webhook_target
from paybill.server.executors.webhooks import Deliverer, notification_thread
from paybill.server.store import Approval, ApprovalNotification
from paybill.server.store.base import utcnow
from tests.support.served import Served
from tests.support.webhook_receiver import Receiver, verify_signature, webhook_receiver

SECRET = "whsec-test-0123456789abcdef"
CONSOLE = "https://console.example.test"


def offboard(served: Served, principal: str = "ops", tenant: str = "acme") -> str:
    refused = served.error(
        principal, "offboard_tenant", tenant=tenant, confirm_slug=tenant, reason="ended"
    )
    assert refused["code"] == "APPROVAL_REQUIRED"
    return str(refused["details"]["approval_id"])


def notify_to(served: Served, url: str, **overrides: Any) -> None:
    """Turn notifications on for ``served``'s calls."""
    served.services.settings = served.services.settings.model_copy(
        update={
            "approval_webhook_url": url,
            "approval_webhook_secret": SecretStr(SECRET),
            "console_url": CONSOLE,
            "approval_webhook_timeout_seconds": 1.0,
            **overrides,
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def deliverer(served: Served, clock: Clock, owner: str = "test") -> Deliverer:
    target = webhook_target(served.services.settings)
    assert target is not None
    return Deliverer(served.services.db, served.services.settings, target, clock=clock, owner=owner)


def rows(served: Served) -> list[ApprovalNotification]:
    with served.services.db.session() as session:
        return list(session.scalars(select(ApprovalNotification)))


@pytest.fixture
def accepting() -> Iterator[Receiver]:
    with webhook_receiver([500, 503, 204]) as receiver:
        yield receiver


def test_delivered_once_signed_after_failed_attempts(served: Served, accepting: Receiver) -> None:
    notify_to(served, accepting.url, approval_webhook_backoff_seconds=10)
    approval_id = offboard(served)
    offboard(served)  # the same request again re-uses the approval: no second notification
    clock = Clock()
    sender = deliverer(served, clock)
    try:
        assert sender.deliver_due() == 0  # HTTP 500
        assert sender.deliver_due() == 0  # not due again before the backoff
        clock.now += timedelta(seconds=10)
        assert sender.deliver_due() == 0  # HTTP 503; the next wait doubles
        clock.now += timedelta(seconds=10)
        assert sender.deliver_due() == 0
        clock.now += timedelta(seconds=10)
        assert sender.deliver_due() == 1  # HTTP 204
        clock.now += timedelta(hours=1)
        assert sender.deliver_due() == 0
    finally:
        sender.close()
    assert len(accepting.received) == 3
    [row] = rows(served)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)
    last = accepting.received[-1]
    stamp = clock.now.timestamp()
    assert verify_signature(
        SECRET.encode(), last.headers["Paybill-Signature"], last.body, stamp, 7200
    )
    assert not verify_signature(
        b"another-secret-1234", last.headers["Paybill-Signature"], last.body, stamp, 7200
    )
    body = json.loads(last.body)
    with served.services.db.session() as session:
        approval = session.get_one(Approval, approval_id)
        expected_hash, expires = approval.effect_hash, approval.expires_at.isoformat()
        approval_summary = (approval.effect or {})["summary"]
    assert approval_summary.startswith("Offboard acme: revoke")
    assert body == {
        "type": "approval.pending",
        "approval_id": approval_id,
        "tenant": "acme",
        "tool": "offboard_tenant",
        "rule": "always",
        "effect_summary": approval_summary,
        "effect_sha256": expected_hash,
        "expires_at": expires,
        "console_url": f"{CONSOLE}/approvals/{approval_id}",
    }
    assert last.headers["Paybill-Notification-Id"] == row.id


def test_attempts_are_bounded_then_failed_and_logged_once(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with webhook_receiver([500]) as receiver:
        notify_to(served, receiver.url, approval_webhook_attempts=2)
        offboard(served)
        clock = Clock()
        sender = deliverer(served, clock)
        try:
            with caplog.at_level(logging.WARNING, logger="paybill.webhooks"):
                for _ in range(4):
                    sender.deliver_due()
                    clock.now += timedelta(hours=1)
        finally:
            sender.close()
    assert len(receiver.received) == 2
    [row] = rows(served)
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "HTTP 500")
    assert len([r for r in caplog.records if "failed after 2 attempts" in r.message]) == 1


def test_redirects_are_not_followed(served: Served) -> None:
    with webhook_receiver([302]) as receiver:
        notify_to(served, receiver.url)
        offboard(served)
        sender = deliverer(served, Clock())
        try:
            assert sender.deliver_due() == 0
        finally:
            sender.close()
    assert [row.last_error for row in rows(served)] == ["HTTP 302"]


def test_a_hanging_or_down_receiver_does_not_slow_or_fail_the_call(served: Served) -> None:
    with webhook_receiver([204], delay_seconds=3) as receiver:
        notify_to(served, receiver.url, worker_poll_seconds=0.05)
        settings = served.services.settings
        with notification_thread(served.services.db, settings, 0.05):
            offboard(served, tenant="acme")
            assert receiver.arrived.wait(5)  # the deliverer now waits on the receiver
            started = time.monotonic()
            offboard(served, tenant="globex")
            assert time.monotonic() - started < 0.9  # under the delivery timeout of 1 s
    notify_to(served, "http://127.0.0.1:9/down")  # nothing listens on the discard port
    started = time.monotonic()
    offboard(served, principal="admin")
    assert time.monotonic() - started < 0.9
    assert len(rows(served)) == 3


def test_two_deliverers_never_send_one_notification_twice(served: Served) -> None:
    with webhook_receiver([200], delay_seconds=0.1) as receiver:
        notify_to(served, receiver.url)
        for principal in ("ops", "admin"):
            for tenant in ("acme", "globex"):
                offboard(served, principal, tenant)
        clock = Clock()
        senders = [deliverer(served, clock, owner=f"d{i}") for i in range(2)]
        barrier = threading.Barrier(2)
        counts: list[int] = []

        def run(sender: Deliverer) -> None:
            barrier.wait(timeout=10)
            counts.append(sender.deliver_due())

        threads = [threading.Thread(target=run, args=(s,)) for s in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        for sender in senders:
            sender.close()
    ids = [json.loads(r.body)["approval_id"] for r in receiver.received]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert sum(counts) == 4
    assert {r.status for r in rows(served)} == {"delivered"}


def test_off_by_default_and_a_url_needs_a_secret(served: Served) -> None:
    offboard(served)
    assert rows(served) == []
    settings = served.services.settings.model_copy(
        update={"approval_webhook_url": "https://hooks.example.test/x"}
    )
    with pytest.raises(InvalidInput, match="PAYBILL_APPROVAL_WEBHOOK_SECRET"):
        webhook_target(settings)
