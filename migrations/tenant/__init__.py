"""Alembic environment for the tenant application schema (one target per schema/database)."""
