output "endpoint" {
  description = "Where the tenant's data is served."
  value = (
    local.silo ? ibm_database.this[0].id :
    local.bridge ? data.ibm_database.shared[0].id : "pool"
  )
}

output "connection" {
  description = "Connection facts (no secrets)."
  value = {
    isolation      = var.isolation
    region         = var.region
    resource_group = local.silo ? ibm_resource_group.this[0].id : ""
    resource_key   = local.bridge ? ibm_resource_key.this[0].id : ""
  }
}

output "resource_ids" {
  description = "Ids of the resources this module manages."
  value = concat(
    ibm_resource_group.this[*].id,
    ibm_database.this[*].id,
    ibm_resource_key.this[*].id,
  )
}
