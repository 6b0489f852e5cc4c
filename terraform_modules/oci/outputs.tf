output "endpoint" {
  description = "Where the tenant's data is served."
  value = (
    local.silo ? oci_psql_db_system.this[0].id :
    local.bridge ? "paybill-shared-${var.region}" : "pool"
  )
}

output "connection" {
  description = "Connection facts (no secrets)."
  value = {
    isolation   = var.isolation
    region      = var.region
    compartment = local.silo ? oci_identity_compartment.this[0].id : ""
    secret      = local.silo || local.bridge ? oci_vault_secret.this[0].id : ""
  }
}

output "resource_ids" {
  description = "Ids of the resources this module manages."
  value = concat(
    oci_identity_compartment.this[*].id,
    oci_psql_db_system.this[*].id,
    oci_vault_secret.this[*].id,
  )
}
