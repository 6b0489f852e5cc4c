# AWS: silo = a dedicated RDS PostgreSQL instance in its own VPC, in the tenant's vended
# member account (providers.tf); bridge = a tenant role's credentials for a schema in the
# shared regional instance; pooled = an IAM role that may connect to the shared instance as
# the tenant's database user only.
locals {
  tags  = merge(var.tags, { paybill_tenant_id = var.tenant_id, paybill_tier = var.tier })
  name  = "paybill-${var.tenant_slug}"
  ident = replace(var.tenant_id, "-", "")
  # The tenant's database user in the shared instance (the local module's role name).
  db_user = "pb_t_${local.ident}"
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:read only when the VPC is created; subnets keep their zones after a new zone appears
  state = "available"
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:VPC flow logs are the member account's baseline (organisation-wide), not per tenant module
  #checkov:skip=CKV2_AWS_12:the VPC holds only the RDS instance, which is private; no security group admits traffic from outside it
  count                = local.silo ? 1 : 0
  cidr_block           = "10.42.0.0/16"
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "this" {
  count                   = local.silo ? 2 : 0
  vpc_id                  = aws_vpc.this[0].id
  cidr_block              = cidrsubnet("10.42.0.0/16", 8, count.index)
  availability_zone       = data.aws_availability_zones.available.names[count.index]
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${local.name}-${count.index}" })
}

resource "aws_db_subnet_group" "this" {
  count      = local.silo ? 1 : 0
  name       = local.name
  subnet_ids = aws_subnet.this[*].id
  tags       = local.tags
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_118:enhanced monitoring needs a monitoring role per member account; CloudWatch logs are exported instead
  #checkov:skip=CKV2_AWS_30:query logging is a parameter group setting owned by the platform's baseline
  count                               = local.silo ? 1 : 0
  identifier                          = local.name
  engine                              = "postgres"
  engine_version                      = "15"
  instance_class                      = "db.t4g.medium"
  allocated_storage                   = 20
  storage_encrypted                   = true
  kms_key_id                          = lookup(var.platform, "aws_kms_key_arn", null)
  db_subnet_group_name                = aws_db_subnet_group.this[0].name
  publicly_accessible                 = false
  multi_az                            = true
  username                            = "paybill"
  manage_master_user_password         = true
  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  backup_retention_period             = 7
  copy_tags_to_snapshot               = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = lookup(var.platform, "aws_kms_key_arn", null)
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.name}-final"
  tags                                = local.tags
}

data "aws_db_instance" "shared" {
  count                  = local.silo ? 0 : 1
  db_instance_identifier = local.shared_instance
}

# The bridge tenant's database role credentials; Paybill writes the value, never Terraform.
resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:the value is rotated by Paybill's credential rotation, not a Lambda
  count      = local.bridge ? 1 : 0
  name       = "${local.name}-db-role"
  kms_key_id = lookup(var.platform, "aws_kms_key_arn", null)
  tags       = local.tags
}

resource "aws_iam_role" "this" {
  count = local.pooled ? 1 : 0
  name  = local.name
  # ECS tasks of the platform's own account only (no confused deputy from other accounts).
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
    }]
  })
  tags = local.tags
}

# IAM database authentication is scoped by the db user ARN (resource id and user name), not
# by tags: the role may connect to the shared instance as the tenant's user and nothing else.
resource "aws_iam_role_policy" "this" {
  count = local.pooled ? 1 : 0
  role  = aws_iam_role.this[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = ["rds-db:connect"]
      Resource = format(
        "arn:%s:rds-db:%s:%s:dbuser:%s/%s",
        data.aws_partition.current.partition,
        var.region,
        data.aws_caller_identity.current.account_id,
        data.aws_db_instance.shared[0].resource_id,
        local.db_user,
      )
    }]
  })
}
