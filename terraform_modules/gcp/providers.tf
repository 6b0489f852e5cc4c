# Every resource goes into local.project: the silo tenant's vended project, or the shared one.
provider "google" {
  project = local.project == "" ? null : local.project
  region  = var.region
}
