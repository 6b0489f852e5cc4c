"""The effect of an approval-gated call: what an approver sees and approves, and its hash.

An effect is data, derived from the artefact that would run (the bound SQL statement and the
rows it touches, the saved Terraform plan, the data a move copies), never re-described from
the call's arguments alone. Its SHA-256 over the canonical JSON binds the approval: before
the approved call runs, the effect is derived again, and a different hash voids the approval.

Shape (``Effect.document``)::

    {"kind": "sql_write" | "isolation_move" | "offboarding" | "call",
     "summary": "one line a human reads first",
     "tenant": {"slug", "state", "plan", "isolation"} | None,
     "details": {...}}   # per kind; docs/approvals.md lists the fields

``details`` holds only JSON values (str, int, float, bool, None, lists, string-keyed dicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paybill.server.core.hashing import canonical_hash
from paybill.server.domain.audit_key import AuditKey
from paybill.server.store import Tenant

SQL_WRITE = "sql_write"
ISOLATION_MOVE = "isolation_move"
OFFBOARDING = "offboarding"
CALL = "call"  # the call itself, for a tool that declares no effect of its own


def tenant_facts(tenant: Tenant | None) -> dict[str, Any] | None:
    """What of the tenant an approver sees beside the effect."""
    if tenant is None:
        return None
    return {
        "slug": tenant.slug,
        "state": tenant.state,
        "plan": tenant.plan_id,
        "isolation": tenant.isolation.value,
    }


@dataclass(frozen=True)
class Effect:
    kind: str
    summary: str
    tenant: dict[str, Any] | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def document(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "tenant": self.tenant,
            "details": self.details,
        }

    @property
    def sha256(self) -> str:
        return effect_hash(self.document)

    @classmethod
    def of(cls, document: dict[str, Any]) -> Effect:
        return cls(
            kind=document["kind"],
            summary=document["summary"],
            tenant=document.get("tenant"),
            details=document.get("details") or {},
        )


def sealed_digest(key: AuditKey, digest: str) -> str:
    """A digest of tenant rows, as an effect may carry it: HMAC-SHA256 keyed with the server's
    audit key over the plain SHA-256. Readers see effects (and their hash) whose rows hold
    values they may not see (PII, hidden columns); a plain digest would let them confirm
    guessed values offline, a keyed one cannot be recomputed without the server's key."""
    return key.mac(b"paybill-effect-rows\0" + digest.encode())


def effect_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace) of an effect document."""
    return canonical_hash(document)


def changed_keys(approved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The top-level parts of two effect documents that differ (``details.rows``...), to say
    what changed when an approval is voided."""
    changed = [key for key in ("kind", "summary", "tenant") if approved.get(key) != now.get(key)]
    before, after = approved.get("details") or {}, now.get("details") or {}
    changed += [
        f"details.{key}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    return changed
