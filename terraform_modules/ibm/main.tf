# IBM Cloud: silo = a resource group with a dedicated Databases for PostgreSQL instance;
# bridge = service credentials on the shared regional instance; pooled = tenant tags.
locals {
  tags = [for k, v in merge(var.tags, { paybill_tenant_id = var.tenant_id, paybill_tier = var.tier }) : "${k}:${v}"]
  name = "paybill-${var.tenant_slug}"
}

resource "ibm_resource_group" "this" {
  count = local.silo ? 1 : 0
  name  = local.name
  tags  = local.tags
}

resource "ibm_database" "this" {
  count             = local.silo ? 1 : 0
  name              = local.name
  plan              = "standard"
  service           = "databases-for-postgresql"
  version           = "15"
  location          = var.region
  resource_group_id = ibm_resource_group.this[0].id
  # Encrypted at rest by the service (always on); reachable on private endpoints only.
  service_endpoints = "private"
  tags              = local.tags
}

data "ibm_database" "shared" {
  count    = local.bridge ? 1 : 0
  name     = local.shared_instance
  location = var.region
  service  = "databases-for-postgresql"
}

# The bridge tenant's service credentials: a database user on the shared instance. IAM roles on
# Cloud Databases govern only the Cloud Databases API (Editor may scale the deployment, change
# its configuration and manage credentials); the database user's privileges are PostgreSQL
# grants, which IAM does not control. Viewer is the least platform role a credential can hold.
resource "ibm_resource_key" "this" {
  count                = local.bridge ? 1 : 0
  name                 = "${local.name}-db-role"
  role                 = "Viewer"
  resource_instance_id = data.ibm_database.shared[0].id
  tags                 = local.tags
}
