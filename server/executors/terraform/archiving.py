"""What archiving (offboarding) does to a tenant's data per target, and, where Paybill cannot
archive, exactly what an operator does instead.

Paybill archives what it can reach: the local target's database objects (read-only for the
tenant's role), an AWS silo tenant's RDS instance (snapshot and stop in its member account)
and a GCP silo tenant's Cloud SQL instance (backup and stop in its project). Everything else
lives where Paybill's data plane does not connect: pooled and bridge tenants on a cloud have
their data in the deployment's shared regional database or pool (the Terraform provisioner
creates database objects only for the local target), and silo tenants on Azure, OCI and IBM
Cloud have a dedicated server no vendor of Paybill's can reach. Those refuse, naming where the
data is and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping

from paybill.server.core.vocabulary import CloudTarget, Isolation
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.provisioner import TenantFacts

ARCHIVED_BY_VENDOR = {
    CloudTarget.AWS: "snapshots its RDS instance paybill-{slug} in its member account "
    "(snapshot paybill-{slug}-archive), then stops it; AWS restarts a stopped instance after "
    "seven days, the snapshot is what is kept for sure",
    CloudTarget.GCP: "backs up its Cloud SQL instance paybill-{slug} in its project (on-demand "
    "backup paybill-archive), then stops it (activation policy NEVER)",
}
# Where a tenant's data lives when Paybill cannot archive it (the modules' own outputs).
SHARED = {
    CloudTarget.AWS: "the shared RDS instance {aws_shared_db_instance}",
    CloudTarget.GCP: "the shared Cloud SQL instance {gcp_shared_sql_instance} in project "
    "{gcp_shared_project}",
    CloudTarget.AZURE: "the shared PostgreSQL flexible server of {region}",
    CloudTarget.OCI: "the shared DB system of {region}",
    CloudTarget.IBM: "the shared database instance {ibm_shared_db_instance}",
}
DEDICATED = {
    CloudTarget.AZURE: "its PostgreSQL flexible server paybill-{slug} (resource group "
    "paybill-{slug})",
    CloudTarget.OCI: "its DB system paybill-{slug} (compartment paybill-{slug})",
    CloudTarget.IBM: "its database instance paybill-{slug} (resource group paybill-{slug})",
}
# Bridge tenants there have a database of their own on the shared server (named like the
# local schema), not a schema.
DATABASE_PER_BRIDGE = (CloudTarget.GCP, CloudTarget.AZURE)
REFUSED_DOES = (
    "nothing: archiving is not supported on this target, the offboarding run stops at "
    "archive_infrastructure with what to do by hand, and the tenant is not scheduled for "
    "deletion (docs/clouds.md)"
)


def vendor_archives(tenant: TenantFacts) -> bool:
    """Whether a cloud vendor of Paybill's archives this tenant (a silo on AWS or GCP)."""
    return tenant.isolation is Isolation.SILO and tenant.cloud in ARCHIVED_BY_VENDOR


def does(tenant: TenantFacts, *, vendor_configured: bool) -> str:
    """What the archive step will do, in an approver's words (the offboarding effect)."""
    if tenant.cloud is CloudTarget.LOCAL:
        return (
            "makes the tenant's database objects read-only; the data is kept and its "
            "Terraform infrastructure stays as is"
        )
    if vendor_configured and vendor_archives(tenant):
        return ARCHIVED_BY_VENDOR[tenant.cloud].format(slug=tenant.slug)
    return REFUSED_DOES


def refusal(tenant: TenantFacts, platform: Mapping[str, str], workspace: str) -> str:
    """The refusal of a target Paybill cannot archive: where the data is and what to do.
    ``workspace``: the tenant's Terraform working directory, relative to the data directory."""
    where = _where(tenant, platform)
    route = TenantRoute(tenant.id, tenant.isolation)
    if tenant.isolation is Isolation.SILO:
        by_hand = f"take a backup of {where}, then stop it ({tenant.cloud.value} console or CLI)"
    elif tenant.isolation is Isolation.BRIDGE and tenant.cloud in DATABASE_PER_BRIDGE:
        by_hand = (
            f"on {where}, as its owner, make the tenant's database read-only: ALTER DATABASE "
            f"{route.schema} SET default_transaction_read_only = on, then end its open sessions"
        )
    else:
        by_hand = (
            f"on {where}, as its owner, make the tenant's tables read-only for its database "
            f'role: REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{route.schema}" '
            f"FROM {route.role}"
        )
    return (
        f"Archiving a {tenant.isolation.value} tenant on {tenant.cloud.value} is not supported: "
        f"its data is in {where}, which Paybill does not connect to. Nothing was changed "
        "(access through Paybill is revoked and the export verified). The offboarding stops "
        f"here and the tenant is not scheduled for deletion. By hand: {by_hand}; when the "
        f"retention is over, run `terraform destroy` in <data dir>/{workspace}. See "
        "docs/clouds.md (Archive and deletion)."
    )


def _where(tenant: TenantFacts, platform: Mapping[str, str]) -> str:
    if tenant.isolation is Isolation.SILO:
        template = DEDICATED.get(tenant.cloud, "its dedicated database")
    elif tenant.isolation is Isolation.POOLED and tenant.cloud is not CloudTarget.AWS:
        return f"the platform's shared pool on {tenant.cloud.value} (tenant {tenant.id})"
    else:
        template = SHARED.get(tenant.cloud, "the shared database")
    default = f"paybill-shared-{tenant.region}"
    names = {
        "slug": tenant.slug,
        "region": tenant.region,
        "aws_shared_db_instance": platform.get("aws_shared_db_instance", default),
        "gcp_shared_sql_instance": platform.get("gcp_shared_sql_instance", default),
        "gcp_shared_project": platform.get("gcp_shared_project", "(platform.gcp_shared_project)"),
        "ibm_shared_db_instance": platform.get("ibm_shared_db_instance", default),
    }
    return template.format(**names)
