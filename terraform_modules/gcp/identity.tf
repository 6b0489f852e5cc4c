# Where the tenant's resources land, checked at plan time. Only variables are read here, so
# tests evaluate this file on its own (the google provider cannot be installed offline).
# Terraform 1.0 has no preconditions: regex("^$", problem) fails the plan naming the problem.
locals {
  silo   = var.isolation == "silo"
  bridge = var.isolation == "bridge"
  # silo: the project Paybill's vendor created for the tenant (this module never creates a
  # project); bridge: the platform's project holding the shared instance; pooled: none.
  project = (
    local.silo ? lookup(var.account, "project_id", "") :
    local.bridge ? lookup(var.platform, "gcp_shared_project", "") : ""
  )
  identity_problem = (
    local.silo && local.project == "" ? "a silo tenant needs its vended project (account.project_id)" :
    local.bridge && local.project == "" ? "a bridge tenant needs the shared project (platform.gcp_shared_project)" :
    local.project != "" && !can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", local.project)) ? "${local.project} is not a GCP project id" : ""
  )
  identity_checked = regex("^$", local.identity_problem)
  shared_instance  = lookup(var.platform, "gcp_shared_sql_instance", "paybill-shared-${var.region}")
}
