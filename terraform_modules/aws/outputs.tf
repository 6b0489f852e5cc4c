output "endpoint" {
  description = "Where the tenant's data is served."
  value = (
    local.silo ? aws_db_instance.this[0].address :
    local.bridge ? data.aws_db_instance.shared[0].address : "pool"
  )
}

output "connection" {
  description = "Connection facts (no secrets)."
  value = {
    isolation = var.isolation
    region    = var.region
    account   = local.silo ? local.account_id : data.aws_caller_identity.current.account_id
    secret    = local.bridge ? aws_secretsmanager_secret.this[0].arn : ""
    iam_role  = local.pooled ? aws_iam_role.this[0].arn : ""
  }
}

output "resource_ids" {
  description = "Ids of the resources this module manages."
  value = concat(
    aws_vpc.this[*].id,
    aws_db_instance.this[*].id,
    aws_secretsmanager_secret.this[*].arn,
    aws_iam_role.this[*].arn,
  )
}
