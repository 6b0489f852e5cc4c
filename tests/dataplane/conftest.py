"""The data-plane tests use the served store of the server tests."""

from tests.server.conftest import served, settings

__all__ = ["served", "settings"]
