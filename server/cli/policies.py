"""Load every policy file the way `paybill serve` and `paybill worker` will, so `paybill init`
refuses a policies folder that would only fail later (a missing billing.yaml, a bad plan
policy)."""

from __future__ import annotations

from pathlib import Path

from paybill.server.core.policy_files import overridden
from paybill.server.domain.acl import load_model, load_permissions
from paybill.server.domain.billing_policy import load_billing_policy
from paybill.server.domain.lifecycle import load_definition
from paybill.server.domain.plans import load_catalogue
from paybill.server.executors.terraform.plan_policy import load_plan_policy


def check_policies(directory: Path | None) -> None:
    """Raises: InvalidInput (a file is missing or unreadable, or does not parse) or
    pydantic.ValidationError (a file parses but says something inconsistent)."""
    load_catalogue(directory)
    load_definition(directory)
    load_model(directory)
    load_permissions(directory)
    load_billing_policy(directory)
    load_plan_policy(directory)


def describe_policies(directory: Path | None) -> str:
    """Which policy files are the operator's and which are packaged, for ``init``'s report."""
    mine = overridden(directory)
    if not mine:
        return "packaged"
    return f"{', '.join(mine)} from {directory}; the others packaged"
