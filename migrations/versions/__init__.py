"""Alembic revisions of the control-plane store."""
