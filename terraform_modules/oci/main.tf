# OCI: silo = a compartment with a dedicated PostgreSQL DB system; bridge = a vault secret
# for the tenant role on the shared regional DB system; pooled = tenant tags.
locals {
  freeform_tags = merge(var.tags, { paybill_tenant_id = var.tenant_id, paybill_tier = var.tier })
  name          = "paybill-${var.tenant_slug}"
  silo          = var.isolation == "silo"
  bridge        = var.isolation == "bridge"
}

data "oci_identity_compartments" "paybill" {
  compartment_id = "paybill-root"
  name           = "paybill"
}

resource "oci_identity_compartment" "this" {
  count          = local.silo ? 1 : 0
  compartment_id = data.oci_identity_compartments.paybill.compartments[0].id
  name           = local.name
  description    = "Paybill tenant ${var.tenant_slug}"
  freeform_tags  = local.freeform_tags
}

resource "oci_psql_db_system" "this" {
  count          = local.silo ? 1 : 0
  compartment_id = oci_identity_compartment.this[0].id
  display_name   = local.name
  db_version     = "15"
  shape          = "PostgreSQL.VM.Standard.E4.Flex.2.32GB"
  freeform_tags  = local.freeform_tags

  network_details {
    subnet_id = "paybill-${var.region}-db-subnet"
  }

  storage_details {
    is_regionally_durable = true
    system_type           = "OCI_OPTIMIZED_STORAGE"
  }
}

resource "oci_vault_secret" "this" {
  count          = local.bridge ? 1 : 0
  compartment_id = data.oci_identity_compartments.paybill.compartments[0].id
  secret_name    = "${local.name}-db-role"
  vault_id       = "paybill-${var.region}-vault"
  key_id         = "paybill-${var.region}-key"
  freeform_tags  = local.freeform_tags

  secret_content {
    content_type = "BASE64"
    content      = base64encode("rotate-on-first-use")
  }
}
