output "endpoint" {
  description = "Where the tenant's data is served."
  value       = "local://${var.isolation}/${local.location}"
}

output "connection" {
  description = "Connection facts (no secrets)."
  value = {
    isolation = var.isolation
    location  = local.location
    role      = "pb_t_${local.ident}"
    region    = var.region
  }
}

output "resource_ids" {
  description = "Ids of the resources this module manages."
  value       = [null_resource.this.id]
}
