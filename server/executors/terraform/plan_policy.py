"""Policy check on a Terraform plan (``terraform show -json``) before it is applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.policy_files import load_policy


class TierRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_resources: int = Field(gt=0)
    allowed: frozenset[str]


class PlanPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    required_tags: tuple[str, ...]
    data_stores: frozenset[str]
    untagged_types: frozenset[str] = frozenset()
    tiers: dict[str, TierRules]

    def violations(
        self, plan: dict[str, Any], *, tier: str, tenant_id: str, offboarding: bool
    ) -> list[str]:
        """Every rule the plan breaks (empty when it may be applied)."""
        rules = self.tiers.get(tier)
        if rules is None:
            return [f"unknown tier {tier!r}"]
        found: list[str] = []
        created = 0
        for change in plan.get("resource_changes", []):
            kind, address = change["type"], change["address"]
            actions = set(change["change"]["actions"])
            if actions <= {"no-op", "read"}:
                continue
            if "delete" in actions and kind in self.data_stores and not offboarding:
                found.append(f"{address}: destroys a tenant data store outside offboarding")
            if kind in self.data_stores and not offboarding and _unprotects(change["change"]):
                found.append(f"{address}: lifts deletion protection outside offboarding")
            if actions & {"create", "update"}:
                created += "create" in actions
                if kind not in rules.allowed:
                    found.append(f"{address}: {kind} is not allowed for tier {tier}")
                if kind not in self.untagged_types:
                    found += self._tag_problems(address, change["change"].get("after"), tenant_id)
        if created > rules.max_resources:
            found.append(f"creates {created} resources; tier {tier} allows {rules.max_resources}")
        return found

    def _tag_problems(
        self, address: str, after: dict[str, Any] | None, tenant_id: str
    ) -> list[str]:
        after = after or {}
        tags = after.get("tags") or after.get("labels") or after.get("freeform_tags")
        tags = tags or after.get("triggers") or {}
        if isinstance(tags, list):  # IBM: ["key:value", ...]
            tags = dict(t.split(":", 1) for t in tags if ":" in t)
        missing = [t for t in self.required_tags if t not in tags]
        if missing:
            return [f"{address}: missing tenant tags {missing}"]
        if tags.get("paybill_tenant_id") != tenant_id:
            return [f"{address}: tagged for another tenant"]
        return []

    def check(self, plan: dict[str, Any], *, tier: str, tenant_id: str, offboarding: bool) -> None:
        """Raises: ProvisioningFailed naming every violation; nothing is applied."""
        found = self.violations(plan, tier=tier, tenant_id=tenant_id, offboarding=offboarding)
        if found:
            raise ProvisioningFailed(
                f"The Terraform plan breaks the {tier} tier's policy and was not applied: "
                + "; ".join(found[:5]),
                violations=found,
            )


def _protected(state: dict[str, Any] | None) -> bool:
    """Whether a data store's attributes keep it deletion-protected (AWS, GCP)."""
    state = state or {}
    settings = state.get("settings") or [{}]
    return bool(state.get("deletion_protection") or settings[0].get("deletion_protection_enabled"))


def _unprotects(change: dict[str, Any]) -> bool:
    return _protected(change.get("before")) and not _protected(change.get("after"))


def load_plan_policy(directory: Path | None = None) -> PlanPolicy:
    return load_policy("terraform_policy.yaml", PlanPolicy, directory)
