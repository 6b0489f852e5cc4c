# A silo tenant's resources are created in its member account: Terraform assumes the access
# role there, and refuses to run with credentials of any other account.
provider "aws" {
  region              = var.region
  allowed_account_ids = local.silo ? [local.account_id] : null

  dynamic "assume_role" {
    for_each = local.silo ? [local.assume_role_arn] : []
    content {
      role_arn     = assume_role.value
      session_name = "paybill-${var.tenant_slug}"
    }
  }

  default_tags {
    tags = local.tags
  }
}
