# Credentials from the environment (API key, instance or resource principal), never here.
provider "oci" {
  region = var.region
}
