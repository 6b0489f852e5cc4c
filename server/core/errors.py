"""Every error Paybill reports, as one exception tree keyed by the public error codes.

    PaybillError                      INTERNAL (base; never shows internals to a client)
    ├── Unauthenticated               UNAUTHENTICATED    no or unknown credentials
    ├── Denied                        DENIED             the ACL or an entitlement refuses
    ├── NotFound                      NOT_FOUND          no such tenant, plan, principal...
    ├── InvalidInput                  INVALID_INPUT      arguments fail validation
    ├── InvalidTransition             INVALID_TRANSITION illegal in the tenant's lifecycle state
    ├── SqlRejected                   SQL_REJECTED       the SQL guard refuses a statement
    ├── QuotaExceeded                 QUOTA_EXCEEDED     a plan limit or rate is exhausted
    ├── BillingBlocked                BILLING_BLOCKED    subscription is past_due or canceled
    ├── ApprovalRequired              APPROVAL_REQUIRED  a pending approval must be decided first
    ├── Conflict                      CONFLICT           duplicate, stale version, reused key
    │   └── ApprovalVoid              CONFLICT           what an approval covered has changed
    ├── ProvisioningFailed            PROVISIONING_FAILED infrastructure step failed
    └── InternalError                 INTERNAL           anything unexpected, translated
        ├── Unavailable               INTERNAL           the database is unreachable; retry
        └── TransientFaultsExhausted  INTERNAL           a run's step kept losing the database

Each error carries a ``code``, a human ``message`` written for the agent reading it (what was
refused, why, what it may do next) and JSON-safe ``details``. ``to_payload()`` is the exact
structure a tool error carries: ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PaybillError(Exception):
    """Base of every Paybill error."""

    code: ClassVar[str] = "INTERNAL"
    # True when the state recorded before the error (a pending approval, a failed run) must
    # be committed rather than rolled back, so the caller can act on it.
    keeps_changes: ClassVar[bool] = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_payload(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class Unauthenticated(PaybillError):
    code = "UNAUTHENTICATED"


class Denied(PaybillError):
    code = "DENIED"


class NotFound(PaybillError):
    code = "NOT_FOUND"


class InvalidInput(PaybillError):
    code = "INVALID_INPUT"


class InvalidTransition(PaybillError):
    """Raised when an action is illegal in the tenant's current lifecycle state."""

    code = "INVALID_TRANSITION"

    def __init__(self, *, tenant: str, state: str, action: str, allowed: list[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(
            f"Cannot {action} tenant {tenant!r} while it is {state}; "
            f"actions allowed now: {allowed_text}.",
            tenant=tenant,
            state=state,
            action=action,
            allowed_actions=allowed,
        )


class SqlRejected(PaybillError):
    code = "SQL_REJECTED"


class QuotaExceeded(PaybillError):
    code = "QUOTA_EXCEEDED"


class BillingBlocked(PaybillError):
    code = "BILLING_BLOCKED"


class ApprovalRequired(PaybillError):
    code = "APPROVAL_REQUIRED"
    keeps_changes = True


class Conflict(PaybillError):
    code = "CONFLICT"


class ApprovalVoid(Conflict):
    """An approval no longer matches what would run (or expired); it is recorded as void."""

    keeps_changes = True


class ProvisioningFailed(PaybillError):
    code = "PROVISIONING_FAILED"
    keeps_changes = True


class InternalError(PaybillError):
    """An unexpected failure; the message is generic so nothing internal leaks."""

    code = "INTERNAL"

    def __init__(self, reference: str | None = None) -> None:
        super().__init__(
            "An internal error occurred and the call did not complete. "
            "Retry later, or give the reference to an operator.",
            **({"reference": reference} if reference else {}),
        )


class Unavailable(InternalError):
    """The database cannot be reached (a restart, a failover): ``details.reason`` is
    ``unavailable`` and ``details.retry_after_seconds`` says when to try again."""

    def __init__(self, retry_after_seconds: int = 5) -> None:
        PaybillError.__init__(
            self,
            "The server's database is unavailable right now (restarting or unreachable), so "
            f"the call may not have completed. Retry in {retry_after_seconds} s; send the same "
            "idempotency_key again for a change, so it runs at most once.",
            reason="unavailable",
            retry_after_seconds=retry_after_seconds,
        )


class TransientFaultsExhausted(InternalError):
    """A workflow step interrupted by transient database faults more often than allowed."""

    def __init__(self, step: str, attempts: int) -> None:
        PaybillError.__init__(
            self,
            f"Step {step} was interrupted by a database fault (a dropped connection, a "
            f"serialization failure or a deadlock) {attempts} times in a row, so the run "
            "stopped. Check that the database is reachable, then retry the run with "
            "retry_workflow.",
            step=step,
            attempts=attempts,
        )


_ERROR_CLASSES: list[type[PaybillError]] = [PaybillError, *PaybillError.__subclasses__()]
ERROR_CODES: tuple[str, ...] = tuple(dict.fromkeys(cls.code for cls in _ERROR_CLASSES))


def too_large(max_bytes: int) -> QuotaExceeded:
    """The refusal of a result (or a value built for it) larger than ``max_bytes``."""
    return QuotaExceeded(
        f"The result is larger than {max_bytes} bytes, the most one call returns. "
        "Narrow the query: fewer or shorter columns (e.g. substring or length), "
        "filters, an aggregate, or a lower LIMIT.",
        limit="max_result_bytes",
        max_result_bytes=max_bytes,
    )
