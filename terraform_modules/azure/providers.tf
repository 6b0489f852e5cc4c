# Every resource goes into local.subscription_id (the tenant's or the platform's).
provider "azurerm" {
  features {}
  subscription_id = local.subscription_id == "" ? null : local.subscription_id
}
