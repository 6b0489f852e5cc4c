"""An approval's plan hash tells a changed tenant from altered stored arguments; hashes of the
older single-digest format still verify, and any mismatch of theirs reads as the tenant's."""

from __future__ import annotations

from typing import Any

from paybill.server.core.hashing import canonical_hash
from paybill.server.domain.approvals import changed_part, plan_hash
from paybill.server.store import Approval, Tenant

ARGS = {"tenant": "acme", "confirm_slug": "acme", "reason": "contract ended"}


def _tenant(version: int = 1) -> Tenant:
    return Tenant(id="t-1", version=version, state="active", plan_id="free")


def _approval(digest: str, arguments: dict[str, Any] = ARGS) -> Approval:
    return Approval(tool="offboard_tenant", arguments=arguments, plan_hash=digest)


def test_the_hash_fits_its_column_and_says_what_changed() -> None:
    digest = plan_hash("offboard_tenant", {**ARGS, "dry_run": False}, _tenant())
    assert len(digest) == 64
    assert changed_part(_approval(digest), _tenant()) is None
    assert changed_part(_approval(digest), _tenant(version=2)) == "tenant"
    assert changed_part(_approval(digest, {**ARGS, "reason": "x"}), _tenant()) == "arguments"
    tool_changed = Approval(tool="resume_tenant", arguments=ARGS, plan_hash=digest)
    assert changed_part(tool_changed, _tenant(version=2)) == "arguments"


def test_older_hashes_still_verify() -> None:
    facts = {"id": "t-1", "version": 1, "state": "active", "plan": "free"}
    legacy = canonical_hash({"tool": "offboard_tenant", "arguments": ARGS, "tenant": facts})
    assert changed_part(_approval(legacy), _tenant()) is None
    assert changed_part(_approval(legacy), _tenant(version=2)) == "tenant"
    assert changed_part(_approval(legacy, {**ARGS, "reason": "x"}), _tenant()) == "tenant"
