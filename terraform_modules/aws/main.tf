# AWS: silo = a dedicated RDS PostgreSQL instance in its own VPC; bridge = a tenant role's
# credentials for a schema in the shared regional instance; pooled = an IAM role scoped to
# the tenant's tag on shared infrastructure.
locals {
  tags   = merge(var.tags, { paybill_tenant_id = var.tenant_id, paybill_tier = var.tier })
  name   = "paybill-${var.tenant_slug}"
  silo   = var.isolation == "silo"
  bridge = var.isolation == "bridge"
  pooled = var.isolation == "pooled"
}

data "aws_availability_zones" "available" {
  state = "available"
}

resource "aws_vpc" "this" {
  count                = local.silo ? 1 : 0
  cidr_block           = "10.42.0.0/16"
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "this" {
  count             = local.silo ? 2 : 0
  vpc_id            = aws_vpc.this[0].id
  cidr_block        = cidrsubnet("10.42.0.0/16", 8, count.index)
  availability_zone = data.aws_availability_zones.available.names[count.index]
  tags              = merge(local.tags, { Name = "${local.name}-${count.index}" })
}

resource "aws_db_subnet_group" "this" {
  count      = local.silo ? 1 : 0
  name       = local.name
  subnet_ids = aws_subnet.this[*].id
  tags       = local.tags
}

resource "aws_db_instance" "this" {
  count                       = local.silo ? 1 : 0
  identifier                  = local.name
  engine                      = "postgres"
  engine_version              = "15"
  instance_class              = "db.t4g.medium"
  allocated_storage           = 20
  storage_encrypted           = true
  db_subnet_group_name        = aws_db_subnet_group.this[0].name
  username                    = "paybill"
  manage_master_user_password = true
  deletion_protection         = true
  skip_final_snapshot         = false
  final_snapshot_identifier   = "${local.name}-final"
  tags                        = local.tags
}

data "aws_db_instance" "shared" {
  count                  = local.bridge ? 1 : 0
  db_instance_identifier = "paybill-shared-${var.region}"
}

resource "aws_secretsmanager_secret" "this" {
  count = local.bridge ? 1 : 0
  name  = "${local.name}-db-role"
  tags  = local.tags
}

resource "aws_iam_role" "this" {
  count = local.pooled ? 1 : 0
  name  = local.name
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "this" {
  count = local.pooled ? 1 : 0
  role  = aws_iam_role.this[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = ["rds-db:connect"]
      Resource  = "*"
      Condition = { StringEquals = { "aws:ResourceTag/paybill_tenant_id" = var.tenant_id } }
    }]
  })
}
