# Azure: silo = a resource group with a dedicated PostgreSQL flexible server; bridge = a
# database on the shared regional server; pooled = tenant tags on shared infrastructure.
locals {
  tags   = merge(var.tags, { paybill_tenant_id = var.tenant_id, paybill_tier = var.tier })
  name   = "paybill-${var.tenant_slug}"
  silo   = var.isolation == "silo"
  bridge = var.isolation == "bridge"
}

resource "azurerm_resource_group" "this" {
  count    = local.silo ? 1 : 0
  name     = local.name
  location = var.region
  tags     = local.tags
}

resource "azurerm_postgresql_flexible_server" "this" {
  count                  = local.silo ? 1 : 0
  name                   = local.name
  resource_group_name    = azurerm_resource_group.this[0].name
  location               = var.region
  version                = "15"
  sku_name               = "GP_Standard_D2s_v3"
  storage_mb             = 32768
  administrator_login    = "paybill"
  administrator_password = null
  tags                   = local.tags

  authentication {
    active_directory_auth_enabled = true
    password_auth_enabled         = false
  }
}

data "azurerm_postgresql_flexible_server" "shared" {
  count               = local.bridge ? 1 : 0
  name                = "paybill-shared-${var.region}"
  resource_group_name = "paybill-shared"
}

resource "azurerm_postgresql_flexible_server_database" "this" {
  count     = local.bridge ? 1 : 0
  name      = "t_${replace(var.tenant_id, "-", "")}"
  server_id = data.azurerm_postgresql_flexible_server.shared[0].id
}
