"""``POST /webhooks/stripe``: Stripe's billing events, verified, then ``set_billing_state``
through the guard pipeline as the configured billing principal.

The signature (``Stripe-Signature``, HMAC-SHA256 with the endpoint's secret, its timestamp
within the tolerance) is checked with the official ``stripe`` library before the body is
parsed. The event's id is the call's idempotency key, so a redelivery replays the first
answer; an event older than the latest applied to the tenant's subscription is acknowledged
and ignored. Answers (JSON): 200 received (``applied`` says whether anything changed),
400 a malformed event or an unknown tenant, 401 a bad signature, 403 a misconfigured billing
principal, 409 a conflict worth retrying, 413 too large, 429/503 retry later. Never a bare
500: Stripe retries every non-2xx answer, and each refusal is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import stripe
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from paybill.server.core.errors import InternalError, InvalidInput, PaybillError, Unauthenticated
from paybill.server.core.secrets import configured_secret
from paybill.server.core.vocabulary import Decision
from paybill.server.domain.audit import AuditEntry
from paybill.server.domain.principals import get_principal
from paybill.server.guards.pipeline import Outcome, Pipeline
from paybill.server.mcp.http_audit import RefusalRecorder
from paybill.server.mcp.json_response import send_json
from paybill.server.store.outage import unavailable
from paybill.server.webhooks.stripe_events import Apply, StripeEvent, billing_call

PATH = "/webhooks/stripe"
TOOL = "webhook.stripe"
MAX_BODY_BYTES = 1 << 20  # Stripe's events are a few kB; refuse anything this large
# Refusals of set_billing_state that retrying the same event can never fix: acknowledged.
FINAL_REFUSALS = {"INVALID_TRANSITION"}
STATUS_OF_CODE = {
    "INVALID_INPUT": 400,
    "NOT_FOUND": 400,
    "UNAUTHENTICATED": 403,
    "DENIED": 403,
    "QUOTA_EXCEEDED": 429,
    "INTERNAL": 503,  # the store unreachable, or a bug: Stripe retries
}
log = logging.getLogger("paybill.webhooks")


class StripeWebhook:
    """Answers ``PATH``; every other request goes on to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        pipeline: Pipeline,
        refusals: RefusalRecorder,
        *,
        secret: str,
        principal: str,
        tolerance_seconds: int,
    ) -> None:
        self.app, self.pipeline, self.refusals = app, pipeline, refusals
        self.secret, self.principal, self.tolerance = secret, principal, tolerance_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _error(send, 405, InvalidInput("Stripe delivers events with POST."))
            return
        body = await _body(receive)
        if body is None:
            await _error(send, 413, InvalidInput("The event is larger than 1 MiB."))
            return
        client = str((scope.get("client") or ("unknown", 0))[0])
        signature = dict(scope["headers"]).get(b"stripe-signature", b"").decode("latin-1")
        try:
            stripe.WebhookSignature.verify_header(
                body.decode("utf-8"), signature, self.secret, self.tolerance
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
            reason = str(exc).split(";")[0][:200]
            await anyio.to_thread.run_sync(self.refusals.record_entry, client, _forged(reason))
            await _error(
                send,
                401,
                Unauthenticated(
                    f"The Stripe-Signature does not verify ({reason}). Check that "
                    "PAYBILL_STRIPE_WEBHOOK_SECRET is this endpoint's signing secret."
                ),
            )
            return
        try:
            status, answer = await anyio.to_thread.run_sync(self._handle, body)
        except Exception as exc:  # the store failing while recording an ignored event
            log.exception("handling a verified Stripe event failed")
            error = unavailable(exc) or InternalError()
            status, answer = 503, error.to_payload()
        await _send(send, status, answer)

    def _handle(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """A verified event: what to answer Stripe (status, JSON body)."""
        try:
            event = StripeEvent.model_validate_json(body)
            call = billing_call(event)
        except (ValidationError, InvalidInput) as exc:
            error = exc if isinstance(exc, InvalidInput) else _malformed(exc)
            return self._refuse_unparsed(error)
        if not isinstance(call, Apply):
            facts = {"event_id": event.id, "type": event.type}
            self._record(facts, Decision.ALLOWED, "webhook:IGNORED", "ignored", call.reason)
            return 200, _received(event, applied=False, ignored_because=call.reason)
        outcome = self.pipeline.call("set_billing_state", self.principal, call.arguments)
        return _answer(event, outcome)

    def _refuse_unparsed(self, error: PaybillError) -> tuple[int, dict[str, Any]]:
        try:
            self._record(
                {},  # an unparsed body is never stored
                Decision.DENIED,
                f"webhook:{error.code}",
                error.code,
                error.message,
                error_code=error.code,
            )
        except Exception as exc:
            log.exception("could not record a refused Stripe event")
            error = unavailable(exc) or InternalError()
        return STATUS_OF_CODE.get(error.code, 400), error.to_payload()

    def _record(
        self,
        arguments: dict[str, Any],
        decision: Decision,
        rule: str,
        outcome: str,
        detail: str,
        error_code: str | None = None,
    ) -> None:
        entry = AuditEntry(
            principal=self.principal,
            tool=TOOL,
            arguments=arguments,
            decision=decision,
            rule=rule,
            outcome=outcome,
            error_code=error_code,
            detail=detail[:1000],
        )
        with self.pipeline.services.db.session() as session:
            self.pipeline.services.audit.append(session, entry)


def _answer(event: StripeEvent, outcome: Outcome) -> tuple[int, dict[str, Any]]:
    if not outcome.is_error:
        result = outcome.payload
        return 200, _received(
            event,
            applied=bool(result["applied"]),
            ignored_because=result.get("ignored_because"),
            status=result["to_status"],
        )
    code = outcome.payload["error"]["code"]
    if code in FINAL_REFUSALS:
        reason = outcome.payload["error"]["message"]
        return 200, _received(event, applied=False, ignored_because=reason)
    return STATUS_OF_CODE.get(code, 409), outcome.payload


def _received(event: StripeEvent, *, applied: bool, **facts: Any) -> dict[str, Any]:
    known = {key: value for key, value in facts.items() if value is not None}
    return {"received": True, "event": event.id, "type": event.type, "applied": applied, **known}


def _malformed(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the body"
    return InvalidInput(f"Not a Stripe event Paybill can read: {where}: {first['msg']}.")


def _forged(reason: str) -> AuditEntry:
    return AuditEntry(
        principal="<stripe-webhook>",
        tool=TOOL,
        arguments={},  # an unverified body is never stored
        decision=Decision.DENIED,
        rule="webhook:UNAUTHENTICATED",
        outcome="UNAUTHENTICATED",
        error_code="UNAUTHENTICATED",
        detail=f"HTTP 401: the Stripe-Signature does not verify ({reason}).",
    )


async def _body(receive: Receive) -> bytes | None:
    """The request body, or None once it exceeds ``MAX_BODY_BYTES``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _error(send: Send, status: int, error: PaybillError) -> None:
    await _send(send, status, error.to_payload())


async def _send(send: Send, status: int, body: dict[str, Any]) -> None:
    retry = [(b"retry-after", b"5")] if status in (429, 503) else []
    await send_json(send, status, body, retry)


def stripe_webhook(pipeline: Pipeline) -> Callable[[ASGIApp], ASGIApp] | None:
    """The webhook in front of an HTTP app, when a signing secret is configured (else None).

    Raises:
        InvalidInput: the secret is unreadable or too short, or the billing principal does
            not exist (checked now, not at Stripe's first delivery).
    """
    services = pipeline.services
    settings = services.settings
    secret = configured_secret(
        settings.stripe_webhook_secret,
        settings.stripe_webhook_secret_file,
        "STRIPE_WEBHOOK_SECRET",
    )
    if not secret:
        return None
    if len(secret) < 16:
        raise InvalidInput(
            "PAYBILL_STRIPE_WEBHOOK_SECRET is shorter than 16 characters: use the endpoint's "
            "signing secret (whsec_...) from Stripe's dashboard or `stripe listen`."
        )
    with services.db.session() as session:
        get_principal(session, settings.stripe_principal)
    refusals = RefusalRecorder(services.db, services.audit)
    return lambda app: StripeWebhook(
        app,
        pipeline,
        refusals,
        secret=secret,
        principal=settings.stripe_principal,
        tolerance_seconds=settings.stripe_tolerance_seconds,
    )
