# Where the tenant's resources land, checked at plan time. Only variables are read here, so
# tests evaluate this file on its own (the aws provider cannot be installed offline).
# Terraform 1.0 has no preconditions: regex("^$", problem) fails the plan naming the problem.
locals {
  silo   = var.isolation == "silo"
  bridge = var.isolation == "bridge"
  pooled = var.isolation == "pooled"
  # silo: the vended member account, reached by assuming its access role; pooled and
  # bridge: the platform's shared account (the credentials Paybill runs with).
  account_id      = local.silo ? lookup(var.account, "id", "") : ""
  assume_role_arn = local.silo ? lookup(var.account, "role_arn", "") : ""
  identity_problem = (
    !local.silo ? "" :
    !can(regex("^[0-9]{12}$", local.account_id)) ? "a silo tenant needs its vended member account id (account.id)" :
    !can(regex("^arn:aws[a-z-]*:iam::${local.account_id}:role/[A-Za-z0-9+=,.@_/-]+$", local.assume_role_arn)) ? "account.role_arn must be a role in the member account ${local.account_id}" : ""
  )
  identity_checked = regex("^$", local.identity_problem)
  shared_instance  = lookup(var.platform, "aws_shared_db_instance", "paybill-shared-${var.region}")
}
