# GCP: silo = a project of its own with a dedicated Cloud SQL instance; bridge = a database
# in the shared regional instance; pooled = tenant labels on shared infrastructure.
locals {
  labels = merge(var.tags, { paybill_tenant_id = var.tenant_id, paybill_tier = var.tier })
  name   = "paybill-${var.tenant_slug}"
  silo   = var.isolation == "silo"
  bridge = var.isolation == "bridge"
}

resource "google_project" "this" {
  count      = local.silo ? 1 : 0
  name       = local.name
  project_id = substr("pb-${replace(var.tenant_id, "-", "")}", 0, 30)
  labels     = local.labels
}

resource "google_sql_database_instance" "this" {
  count               = local.silo ? 1 : 0
  project             = google_project.this[0].project_id
  name                = local.name
  region              = var.region
  database_version    = "POSTGRES_15"
  deletion_protection = true

  settings {
    tier        = "db-custom-2-7680"
    user_labels = local.labels
  }
}

resource "google_sql_database" "this" {
  count    = local.bridge ? 1 : 0
  name     = "t_${replace(var.tenant_id, "-", "")}"
  instance = "paybill-shared-${var.region}"
}
