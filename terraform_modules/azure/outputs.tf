output "endpoint" {
  description = "Where the tenant's data is served."
  value = (
    local.silo ? azurerm_postgresql_flexible_server.this[0].fqdn :
    local.bridge ? data.azurerm_postgresql_flexible_server.shared[0].fqdn : "pool"
  )
}

output "connection" {
  description = "Connection facts (no secrets)."
  value = {
    isolation      = var.isolation
    region         = var.region
    subscription   = local.subscription_id
    resource_group = local.silo ? azurerm_resource_group.this[0].name : local.shared_group
    database       = local.bridge ? azurerm_postgresql_flexible_server_database.this[0].name : ""
  }
}

output "resource_ids" {
  description = "Ids of the resources this module manages."
  value = concat(
    azurerm_resource_group.this[*].id,
    azurerm_postgresql_flexible_server.this[*].id,
    azurerm_postgresql_flexible_server_database.this[*].id,
  )
}
