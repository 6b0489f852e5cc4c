# GCP: silo = a dedicated Cloud SQL instance in the project Paybill vended for the tenant
# (server/executors/clouds/gcp.py; nothing project-level is created here); bridge = a
# database in the shared regional instance; pooled = tenant labels on shared infrastructure.
locals {
  labels = merge(var.tags, { paybill_tenant_id = var.tenant_id, paybill_tier = var.tier })
  name   = "paybill-${var.tenant_slug}"
}

resource "google_sql_database_instance" "this" {
  count            = local.silo ? 1 : 0
  project          = local.project
  name             = local.name
  region           = var.region
  database_version = "POSTGRES_15"
  #checkov:skip=CKV_GCP_79:PostgreSQL 15 on every cloud, the version Paybill is tested with
  deletion_protection = var.deletion_protection
  # Encrypted at rest by Google; a customer-managed key when the platform names one.
  encryption_key_name = lookup(var.platform, "gcp_kms_key", null)

  # Archiving stops the instance out of band (activation policy NEVER, after a backup); an
  # apply that set it back would start an archived tenant's database again, even the one
  # that lifts deletion protection just before the destroy.
  lifecycle {
    ignore_changes = [settings[0].activation_policy]
  }

  settings {
    tier                        = "db-custom-2-7680"
    availability_type           = "REGIONAL"
    deletion_protection_enabled = var.deletion_protection
    user_labels                 = local.labels

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }

    ip_configuration {
      #checkov:skip=CKV_GCP_60:no authorized networks: only the Cloud SQL connector (IAM, TLS) reaches the public address
      ipv4_enabled = true
      ssl_mode     = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    }

    # Logging flags a reviewer expects of Cloud SQL for PostgreSQL (CIS GCP 6.2), literal so
    # scanners read them.
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }

    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }

    database_flags {
      name  = "log_connections"
      value = "on"
    }

    database_flags {
      name  = "log_disconnections"
      value = "on"
    }

    database_flags {
      name  = "log_duration"
      value = "on"
    }

    database_flags {
      name  = "log_hostname"
      value = "on"
    }

    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }

    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }

    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }

    database_flags {
      name  = "log_min_messages"
      value = "error"
    }

    database_flags {
      name  = "log_statement"
      value = "ddl"
    }

    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
  }
}

resource "google_sql_database" "this" {
  count    = local.bridge ? 1 : 0
  project  = local.project
  name     = "t_${replace(var.tenant_id, "-", "")}"
  instance = local.shared_instance
}
