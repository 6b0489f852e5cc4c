"""Revisions of the tenant application schema."""
