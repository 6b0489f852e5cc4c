"""Approval notifications: what a webhook is told about a new pending approval, how the
body is signed, and the outbox row that carries it (``store.notifications``).

The row is added in the session that creates the approval, so it commits with it (a crash
loses neither) and the call never waits on the network: deliverers send it later
(``executors.webhooks``). Delivery settings are checked at start (``webhook_target``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paybill.server.core.errors import InvalidInput
from paybill.server.core.secrets import configured_secret
from paybill.server.core.settings import Settings
from paybill.server.store import Approval, ApprovalNotification, NotificationStatus, Tenant

EVENT_TYPE = "approval.pending"
SIGNATURE_HEADER = "Paybill-Signature"


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: bytes


def webhook_target(settings: Settings) -> WebhookTarget | None:
    """Where and with what key notifications go; None when notifications are off.

    Raises:
        InvalidInput: a URL without a secret, or a secret file that cannot be read.
    """
    if settings.approval_webhook_url is None:
        return None
    secret = configured_secret(
        settings.approval_webhook_secret,
        settings.approval_webhook_secret_file,
        "APPROVAL_WEBHOOK_SECRET",
    )
    if len(secret) < 16:
        raise InvalidInput(
            "PAYBILL_APPROVAL_WEBHOOK_URL is set without a signing secret of 16 characters "
            "or more: set PAYBILL_APPROVAL_WEBHOOK_SECRET or "
            "PAYBILL_APPROVAL_WEBHOOK_SECRET_FILE, or unset the URL to turn notifications off."
        )
    return WebhookTarget(settings.approval_webhook_url, secret.encode())


def body_bytes(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys sorted."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Paybill-Signature`` value: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def console_link(settings: Settings, approval_id: str) -> str | None:
    if settings.console_url is None:
        return None
    return f"{settings.console_url.rstrip('/')}/approvals/{approval_id}"


def pending_body(
    settings: Settings, approval: Approval, tenant: Tenant | None, rule: str
) -> dict[str, Any]:
    effect = approval.effect or {}
    return {
        "type": EVENT_TYPE,
        "approval_id": approval.id,
        "tenant": tenant.slug if tenant is not None else None,
        "tool": approval.tool,
        "rule": rule,
        "effect_summary": effect.get("summary"),
        "effect_sha256": approval.effect_hash,
        "expires_at": approval.expires_at.isoformat(),
        "console_url": console_link(settings, approval.id),
    }


def queue_pending(
    session: Session,
    settings: Settings,
    approval: Approval,
    tenant: Tenant | None,
    rule: str,
    now: datetime,
) -> None:
    """Queue the notification of a pending approval in ``session``'s transaction; nothing when
    notifications are off or the approval already has one (a racing request re-used it)."""
    if settings.approval_webhook_url is None:
        return
    queued = select(ApprovalNotification.id).where(ApprovalNotification.approval_id == approval.id)
    if session.scalar(queued) is not None:
        return
    row = ApprovalNotification(
        approval_id=approval.id,
        body=pending_body(settings, approval, tenant, rule),
        status=NotificationStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return  # the request that created the approval queued it first
