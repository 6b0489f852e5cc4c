"""Paybill: an MCP control plane that lets AI agents operate multi-tenant SaaS safely."""

__version__ = "0.1.0"
