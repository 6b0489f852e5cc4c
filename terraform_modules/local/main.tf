# Offline stand-in for a tenant's infrastructure: one null_resource that records where the
# tenant's data lives. Paybill's local provisioner creates the database objects themselves.
locals {
  tags  = merge(var.tags, { paybill_tenant_id = var.tenant_id, paybill_tier = var.tier })
  ident = replace(var.tenant_id, "-", "")
  location = (
    var.isolation == "pooled" ? "tenant_pool" :
    var.isolation == "bridge" ? "t_${local.ident}" : "pb_silo_${local.ident}"
  )
}

resource "null_resource" "this" {
  triggers = merge(local.tags, {
    tenant_slug = var.tenant_slug
    isolation   = var.isolation
    region      = var.region
    location    = local.location
  })
}
