"""The billing policy (``policies/billing.yaml``): grace, trials, cancellation, retention."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from paybill.server.core.policy_files import load_policy
from paybill.server.core.vocabulary import SubscriptionStatus

# The actor recorded on lifecycle transitions and audit events the policy itself causes.
BILLING_ACTOR = "billing-policy"


class BillingPolicy(BaseModel):
    """What the billing tick enforces; see the comments in ``policies/billing.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    past_due_grace_days: int = Field(ge=0, le=365)
    trial_days: int = Field(ge=0, le=365)
    trial_end_status: Literal[SubscriptionStatus.PAST_DUE, SubscriptionStatus.ACTIVE]
    canceled_at_period_end: Literal["suspend", "none"]
    retention_days: int = Field(ge=1, le=3650)
    check_every_seconds: float = Field(gt=0, le=86_400)


def load_billing_policy(directory: Path | None = None) -> BillingPolicy:
    """Load and validate ``billing.yaml``.

    Raises:
        pydantic.ValidationError: the file is not a valid billing policy.
    """
    return load_policy("billing.yaml", BillingPolicy, directory)
