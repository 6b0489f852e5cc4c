# Checked at plan time; only variables are read here, so tests evaluate this file on its own
# (the ibm provider cannot be installed offline). A silo tenant gets a resource group of its
# own (main.tf): nothing is vended for IBM Cloud, so there is nothing to check yet.
locals {
  silo             = var.isolation == "silo"
  bridge           = var.isolation == "bridge"
  identity_problem = ""
  identity_checked = regex("^$", local.identity_problem)
  shared_instance  = lookup(var.platform, "ibm_shared_db_instance", "paybill-shared-${var.region}")
}
