"""Saved Terraform plans an approver approves, and applying exactly such a plan.

An approval of a Terraform change binds a plan file planned *before* the approval exists
(``terraform plan -out``, checked against the plan policy, summarised from ``show -json``).
The file is kept in the tenant's working directory as ``approved-<hash16>.tfplan`` (0600): a
name the run-end sweep of ``tenant-*.tfplan`` leaves alone. Executing the approval applies
that file and nothing else; Terraform itself refuses it as stale when the state moved on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.executors.terraform.cli import (
    LOCK_TIMEOUT_SECONDS,
    Progress,
    TenantWorkspace,
    Terraform,
    tier_name,
    variables,
)
from paybill.server.executors.terraform.plan_policy import PlanPolicy

APPROVED_PLAN = re.compile(r"^approved-[0-9a-f]{16}\.tfplan$")
UNKNOWN = "(known after apply)"
SENSITIVE = "(sensitive)"
_FLAGS = ("-input=false", "-no-color")
_LOCKING = (f"-lock-timeout={LOCK_TIMEOUT_SECONDS}s",)
# What the summary keeps of each changed value: a long one is cut (the hash covers it all).
_VALUE_CHARS = 200


@dataclass(frozen=True)
class SavedPlan:
    """A checked plan: its summary (the approver's view) and, when kept, its file's name."""

    summary: dict[str, Any]
    file: str | None


def approved_name(sha256: str) -> str:
    return f"approved-{sha256[:16]}.tfplan"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plan_checked(
    terraform: Terraform, workspace: TenantWorkspace, policy: PlanPolicy, *, keep: bool
) -> SavedPlan:
    """Plan the workspace's facts into a file, check the policy, summarise it; keep the file
    (as ``approved-<hash16>.tfplan``, 0600) only when ``keep``.

    The plan's variables go in a private file of this plan's own and the workspace's shared
    files are not rewritten, so a run applying this tenant's module meanwhile is not disturbed.

    Raises:
        ProvisioningFailed: a terraform step failed, or the policy refuses the plan (no
            approval may be asked for a plan that could never be applied).
    """
    workdir = workspace.prepare_config()
    scratch = uuid.uuid4().hex[:12]
    # tenant-*: a file left behind by a killed process is swept with the runs' plans.
    plan_file, var_file = workdir / f"tenant-{scratch}.tfplan", workdir / f"vars-{scratch}.json"
    try:
        values = variables(
            workspace.facts, workspace.account, workspace.platform, protect=workspace.protect
        )
        _private_write(var_file, json.dumps(values).encode())
        terraform.run(workdir, "init", *_FLAGS, *workspace.init_args())
        terraform.run(
            workdir, "plan", *_FLAGS, *_LOCKING, f"-var-file={var_file.name}", f"-out={plan_file}"
        )
        plan = json.loads(terraform.run(workdir, "show", "-no-color", "-json", plan_file.name))
        _check(policy, plan, workspace, planned=True)
        digest = file_sha256(plan_file)
        kept = None
        if keep:
            kept = approved_name(digest)
            os.replace(plan_file, workdir / kept)
            os.chmod(workdir / kept, 0o600)
    finally:
        plan_file.unlink(missing_ok=True)
        var_file.unlink(missing_ok=True)
    return SavedPlan({"plan_sha256": digest, "plan_file": kept, **summarise_plan(plan)}, kept)


def saved_plan_problem(workspace: TenantWorkspace, name: str, sha256: str) -> str | None:
    """Why the approved plan file cannot be applied as approved (missing or altered), or
    None when it is there with the approved hash."""
    if not APPROVED_PLAN.match(name):
        return f"the approved plan file name {name!r} is not one Paybill writes"
    path = workspace.path / name
    if not path.is_file():
        return "the approved Terraform plan file is missing"
    if file_sha256(path) != sha256:
        return "tampered: the approved Terraform plan file no longer matches its hash"
    return None


def apply_saved(
    terraform: Terraform,
    workspace: TenantWorkspace,
    policy: PlanPolicy,
    name: str,
    sha256: str,
    progress: Progress,
) -> dict[str, Any]:
    """Apply exactly the approved plan file, then read the outputs; the file is removed
    afterwards whatever happens (it can only be applied once).

    Raises:
        ProvisioningFailed: the file is missing or altered, the policy now refuses it, or
            Terraform refused it (a stale plan: the state changed since it was planned).
    """
    problem = saved_plan_problem(workspace, name, sha256)
    if problem is not None:
        raise ProvisioningFailed(
            f"The approved Terraform plan cannot be applied: {problem}. Nothing was applied; "
            "request the change again for a fresh plan and approval.",
            plan_sha256=sha256,
        )
    workdir = workspace.prepare()  # the workspace's variables now describe the new facts
    try:
        progress("terraform init")
        terraform.run(workdir, "init", *_FLAGS, *workspace.init_args())
        progress("policy check")
        shown = terraform.run(workdir, "show", "-no-color", "-json", name)
        _check(policy, json.loads(shown), workspace)
        progress("terraform apply (approved plan)")
        terraform.run(workdir, "apply", *_FLAGS, *_LOCKING, name)
    finally:
        (workdir / name).unlink(missing_ok=True)
    outputs = json.loads(terraform.run(workdir, "output", "-no-color", "-json"))
    return {key: item["value"] for key, item in outputs.items()}


def _check(
    policy: PlanPolicy, plan: dict[str, Any], workspace: TenantWorkspace, planned: bool = False
) -> None:
    facts = workspace.facts
    tier = tier_name(facts.tier)
    found = policy.violations(plan, tier=tier, tenant_id=facts.id, offboarding=False)
    if not found:
        return
    then = "no approval was requested" if planned else "nothing was applied"
    raise ProvisioningFailed(
        f"The Terraform plan for this change breaks the {tier} tier's policy, so {then}: "
        + "; ".join(found[:5])
        + ". Fix the tenant's module or policies/terraform_policy.yaml first.",
        violations=found,
    )


def _private_write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


# -- the summary -----------------------------------------------------------------------------


def summarise_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """What an approver reads of ``show -json``: counts as Terraform prints them (a replace
    is one add and one destroy) and every resource that changes, with its changed attributes;
    sensitive values masked, unknown ones shown as known after apply."""
    counts = {"add": 0, "change": 0, "destroy": 0}
    resources = []
    for change in plan.get("resource_changes", []):
        body = change["change"]
        actions = list(body["actions"])
        if set(actions) <= {"no-op", "read"}:
            continue
        counts["add"] += "create" in actions
        counts["change"] += "update" in actions
        counts["destroy"] += "delete" in actions
        resources.append(
            {
                "address": change["address"],
                "type": change["type"],
                "actions": actions,
                "changed": changed_attributes(body),
            }
        )
    return {"counts": counts, "resources": sorted(resources, key=lambda r: r["address"])}


def changed_attributes(change: dict[str, Any]) -> list[dict[str, Any]]:
    """Leaf attributes (``triggers.isolation``) whose value differs before and after, or is
    known only after apply. A sensitive value is compared, never shown."""
    before = _leaves(change.get("before"), change.get("before_sensitive"), None)
    after = _leaves(change.get("after"), change.get("after_sensitive"), change.get("after_unknown"))
    found = []
    for name in sorted(before.keys() | after.keys()):
        (was, shown_before), (now, shown_after) = before.get(name, _NONE), after.get(name, _NONE)
        if was != now or shown_after == UNKNOWN:
            found.append({"attribute": name, "before": shown_before, "after": shown_after})
    return found


_NONE: tuple[Any, Any] = (None, None)
# A leaf's value, and what of it an approver sees.
Leaf = tuple[Any, Any]


def _leaves(value: Any, sensitive: Any, unknown: Any, prefix: str = "") -> dict[str, Leaf]:
    if unknown is True:
        return {prefix: (UNKNOWN, UNKNOWN)} if prefix else {}
    if sensitive is True:
        return {prefix: (value, SENSITIVE)} if prefix else {}
    if isinstance(value, dict) or isinstance(unknown, dict):
        value = value if isinstance(value, dict) else {}
        keys = value.keys() | (unknown.keys() if isinstance(unknown, dict) else set())
        found: dict[str, Leaf] = {}
        for key in keys:
            found.update(
                _leaves(
                    value.get(key),
                    sensitive.get(key) if isinstance(sensitive, dict) else None,
                    unknown.get(key) if isinstance(unknown, dict) else None,
                    f"{prefix}.{key}" if prefix else key,
                )
            )
        return found
    if not prefix:
        return {}
    if isinstance(value, list) and (_any_true(sensitive) or _any_true(unknown)):
        return {prefix: (value, SENSITIVE if _any_true(sensitive) else UNKNOWN)}
    shown = value
    if isinstance(value, str) and len(value) > _VALUE_CHARS:
        shown = value[:_VALUE_CHARS] + "…"
    return {prefix: (value, shown)}


def _any_true(marks: Any) -> bool:
    if marks is True:
        return True
    if isinstance(marks, dict):
        return any(_any_true(v) for v in marks.values())
    if isinstance(marks, list):
        return any(_any_true(v) for v in marks)
    return False
