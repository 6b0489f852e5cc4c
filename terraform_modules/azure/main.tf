# Azure: silo = a resource group of its own (in its own subscription when one is vended) with
# a dedicated PostgreSQL flexible server; bridge = a database on the shared regional server;
# pooled = tenant tags on shared infrastructure.
locals {
  tags = merge(var.tags, { paybill_tenant_id = var.tenant_id, paybill_tier = var.tier })
  name = "paybill-${var.tenant_slug}"
}

resource "azurerm_resource_group" "this" {
  count    = local.silo ? 1 : 0
  name     = local.name
  location = var.region
  tags     = local.tags
}

# Encrypted at rest by the service (always on); Entra ID authentication only, so there is
# no administrator password anywhere.
resource "azurerm_postgresql_flexible_server" "this" {
  #checkov:skip=CKV2_AZURE_57:public access is off; the private endpoint belongs to the platform's network, outside the tenant module
  #checkov:skip=CKV_AZURE_136:geo-redundant backups are set below; checkov misreads the zone-redundant high availability block
  count                         = local.silo ? 1 : 0
  name                          = local.name
  resource_group_name           = azurerm_resource_group.this[0].name
  location                      = var.region
  version                       = "15"
  sku_name                      = "GP_Standard_D2s_v3"
  storage_mb                    = 32768
  backup_retention_days         = 35
  geo_redundant_backup_enabled  = true
  public_network_access_enabled = false
  zone                          = "1"
  tags                          = local.tags

  authentication {
    active_directory_auth_enabled = true
    password_auth_enabled         = false
    tenant_id                     = local.entra_tenant_id
  }

  high_availability {
    mode = "ZoneRedundant"
  }

  lifecycle {
    # Deletion protection: offboarding's destroy is the only way to remove it (plan policy),
    # and a changed zone must never recreate the server.
    ignore_changes = [zone, high_availability[0].standby_availability_zone]
  }
}

data "azurerm_postgresql_flexible_server" "shared" {
  count               = local.bridge ? 1 : 0
  name                = local.shared_server
  resource_group_name = local.shared_group
}

resource "azurerm_postgresql_flexible_server_database" "this" {
  count     = local.bridge ? 1 : 0
  name      = "t_${replace(var.tenant_id, "-", "")}"
  server_id = data.azurerm_postgresql_flexible_server.shared[0].id
}
