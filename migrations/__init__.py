"""Alembic environment for the control-plane store."""
