# Credentials from the environment (IC_API_KEY), never here.
provider "ibm" {
  region = var.region
}
