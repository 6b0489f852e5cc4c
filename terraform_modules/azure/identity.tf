# Where the tenant's resources land, checked at plan time. Only variables are read here, so
# tests evaluate this file on its own (the azurerm provider cannot be installed offline).
# Terraform 1.0 has no preconditions: regex("^$", problem) fails the plan naming the problem.
locals {
  silo   = var.isolation == "silo"
  bridge = var.isolation == "bridge"
  uuid   = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
  # A silo tenant gets a resource group of its own, in its own subscription when one was
  # vended for it, else in the platform's subscription; bridge and pooled use the platform's.
  subscription_id = (
    local.silo && lookup(var.account, "subscription_id", "") != "" ? var.account["subscription_id"] :
    lookup(var.platform, "azure_subscription_id", "")
  )
  entra_tenant_id = lookup(var.platform, "azure_tenant_id", "")
  identity_problem = (
    var.isolation == "pooled" ? "" :
    !can(regex(local.uuid, local.subscription_id)) ? "needs a subscription id (account.subscription_id or platform.azure_subscription_id)" :
    local.silo && !can(regex(local.uuid, local.entra_tenant_id)) ? "a silo tenant needs the Entra tenant id for its server's authentication (platform.azure_tenant_id)" : ""
  )
  identity_checked = regex("^$", local.identity_problem)
  shared_server    = lookup(var.platform, "azure_shared_server", "paybill-shared-${var.region}")
  shared_group     = lookup(var.platform, "azure_shared_resource_group", "paybill-shared")
}
