output "endpoint" {
  description = "Where the tenant's data is served."
  value = (
    local.silo ? google_sql_database_instance.this[0].connection_name :
    local.bridge ? "paybill-shared-${var.region}" : "pool"
  )
}

output "connection" {
  description = "Connection facts (no secrets)."
  value = {
    isolation = var.isolation
    region    = var.region
    project   = local.project
    database  = local.bridge ? google_sql_database.this[0].name : ""
  }
}

output "resource_ids" {
  description = "Ids of the resources this module manages."
  value = concat(
    google_sql_database_instance.this[*].id,
    google_sql_database.this[*].id,
  )
}
