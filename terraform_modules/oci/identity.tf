# Where the tenant's resources land, checked at plan time. Only variables are read here, so
# tests evaluate this file on its own (the oci provider cannot be installed offline).
# Terraform 1.0 has no preconditions: regex("^$", problem) fails the plan naming the problem.
locals {
  silo   = var.isolation == "silo"
  bridge = var.isolation == "bridge"
  # The OCIDs this module needs, from the platform (never placeholders): a silo tenant gets a
  # compartment of its own under the parent; bridge secrets live in the parent compartment.
  ocids = {
    parent_compartment = lookup(var.platform, "oci_parent_compartment_id", "")
    db_subnet          = lookup(var.platform, "oci_db_subnet_id", "")
    vault              = lookup(var.platform, "oci_vault_id", "")
    vault_key          = lookup(var.platform, "oci_vault_key_id", "")
  }
  needed = (
    local.silo ? ["parent_compartment", "db_subnet", "vault", "vault_key"] :
    local.bridge ? ["parent_compartment", "vault", "vault_key"] : []
  )
  missing = [for name in local.needed : "platform.oci_${name}_id" if !can(regex("^ocid1\\.[a-z0-9]+\\.[a-z0-9-]+\\.[a-z0-9-]*\\.[a-z0-9]+$", local.ocids[name]))]
  identity_problem = (
    length(local.missing) == 0 ? "" : "needs OCIDs for ${join(", ", local.missing)}"
  )
  identity_checked = regex("^$", local.identity_problem)
}
