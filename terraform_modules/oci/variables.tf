variable "tenant_id" {
  description = "Paybill tenant id (UUID); every resource is tagged with it."
  type        = string
}

variable "tenant_slug" {
  description = "DNS-safe tenant slug, used in resource names."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.tenant_slug))
    error_message = "The tenant_slug must be a DNS label."
  }
}

variable "tier" {
  description = "Plan tier: free, pro or enterprise."
  type        = string

  validation {
    condition     = contains(["free", "pro", "enterprise"], var.tier)
    error_message = "The tier must be free, pro or enterprise."
  }
}

variable "isolation" {
  description = "Isolation model: pooled (shared, tenant tags), bridge (schema in a shared server) or silo (dedicated infrastructure)."
  type        = string

  validation {
    condition     = contains(["pooled", "bridge", "silo"], var.isolation)
    error_message = "The isolation must be pooled, bridge or silo."
  }
}

variable "region" {
  description = "Region or location to provision in."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource; Paybill adds paybill_tenant_id and paybill_tier."
  type        = map(string)
  default     = {}
}

variable "account" {
  description = "The account vended for a silo tenant, as Paybill's vendor returned it (aws: id, role_arn; gcp: project_id; azure: subscription_id); empty for pooled and bridge tenants and for clouds without a vendor."
  type        = map(string)
  default     = {}
}

variable "platform" {
  description = "Deployment-wide ids the module needs (shared instances, parent compartment, vault; see the module's README), from PAYBILL_TERRAFORM_PLATFORM. Never secrets."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Keep the tenant's data stores deletion-protected; Paybill sets false only in offboarding's deletion, which the plan policy allows alone to lift it."
  type        = bool
  default     = true
}
