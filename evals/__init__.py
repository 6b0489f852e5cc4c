"""Evals: transcript replay and agent runs against the MCP server."""
