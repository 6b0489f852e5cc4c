"""What an approval binds when a silo tenant's cloud account does not exist yet.

A saved plan cannot be made for it: the module plans *inside* the account (the AWS provider
assumes a role in the member account and refuses any other; the GCP provider's project is
the vended one), so Terraform needs the account's id, which exists only once the account is
created, and nothing may be created before a human approved the move. The approval binds,
instead of a plan file, everything the run's plan will be made from except that id:

- ``account``: what the vendor will create (its ``planned``: names, email or parent, tags);
- ``module``: the tenant's module for its cloud and the SHA-256 of its files;
- ``variables``: every module input the run will plan with but ``account``.

After the approval the run vends the account, checks that these three still hold, then plans,
checks the plan against the plan policy and applies that plan (``cli.run_module``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from paybill.server.executors.provisioner import TenantFacts
from paybill.server.executors.terraform.cli import modules_root, variables

KEY = "vend_first"
WHY = (
    "not planned yet: the module plans inside the tenant's own account, which is created "
    "only after approval; the account to create, the module and its inputs are bound instead"
)


def module_sha256(cloud: str) -> str:
    """SHA-256 over the module's ``*.tf`` files (names and bytes, in name order): the files a
    run copies into the tenant's workspace."""
    digest = hashlib.sha256()
    for path in sorted((modules_root() / cloud).glob("*.tf")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def binding(
    tenant: TenantFacts, planned: Mapping[str, Any], platform: Mapping[str, str]
) -> dict[str, Any]:
    """What the approval of a move into a not-yet-vended account binds (module docstring)."""
    inputs = variables(tenant, None, platform)
    del inputs["account"]  # known only once the account exists
    cloud = tenant.cloud.value
    return {
        "account": dict(planned),
        "module": {"path": f"terraform_modules/{cloud}", "sha256": module_sha256(cloud)},
        "variables": inputs,
    }


def summary(bound: Mapping[str, Any]) -> dict[str, Any]:
    """The effect's ``terraform`` value: no plan (no file, no counts), the binding and why."""
    return {
        "plan_sha256": None,
        "plan_file": None,
        "counts": None,
        "resources": [],
        KEY: dict(bound),
        "why": WHY,
    }


def binding_problem(approved: Mapping[str, Any], now: Mapping[str, Any]) -> str | None:
    """Why what the run would vend and plan with now is not what was approved, or None."""
    if approved.get("account") != now.get("account"):
        return "the account to vend is not the approved one (vendor settings changed)"
    if approved.get("module") != now.get("module"):
        return "the tenant's Terraform module changed since the approval"
    if approved.get("variables") != now.get("variables"):
        return "the module's inputs (tenant facts or platform ids) changed since the approval"
    return None
