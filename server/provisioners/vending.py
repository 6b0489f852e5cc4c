"""The interface of cloud account vendors: a dedicated AWS account or GCP project per silo
tenant, created before the tenant's Terraform module runs."""

from __future__ import annotations

from typing import Any, Protocol

from paybill.server.domain import CloudTarget
from paybill.server.provisioners.base import TenantFacts
from paybill.server.settings import Settings

# Tag (AWS) and label (GCP) keys every vended account carries. GCP labels only allow
# lowercase letters, digits, "_" and "-", so the same keys work on both clouds.
TENANT_TAG = "paybill_tenant_id"
TIER_TAG = "paybill_tier"
SLUG_TAG = "paybill_slug"


class CloudAccountVendor(Protocol):
    """Creates (or finds) the cloud account that holds one silo tenant's infrastructure.

    ``vend`` must be idempotent: a second call finds what the first created and changes
    nothing. It returns plain facts (ids, names, tags, what it changed), never credentials.

    Raises:
        ProvisioningFailed: the account could not be created, found or configured.
    """

    cloud: CloudTarget

    def vend(self, tenant: TenantFacts) -> dict[str, Any]:
        """Create or find the tenant's account; return its facts."""
        ...


def vendors_from(settings: Settings) -> list[CloudAccountVendor]:
    """The AWS and GCP vendors configured from settings; nothing is called until ``vend``."""
    # Imported here, not at the top: the Google client alone takes about 1.5 s to import and
    # only the terraform provisioner needs either SDK.
    from paybill.server.provisioners.aws_vending import AwsAccountVendor
    from paybill.server.provisioners.gcp_projects import GcpProjectVendor

    return [
        AwsAccountVendor(
            email_domain=settings.aws_account_email_domain, endpoint_url=settings.aws_endpoint_url
        ),
        GcpProjectVendor(parent=settings.gcp_parent, endpoint=settings.gcp_endpoint),
    ]
