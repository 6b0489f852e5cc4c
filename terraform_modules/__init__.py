"""Terraform modules, shipped as package data for the provisioner."""
