"""The operator console: a server-rendered web UI for humans over the same guard pipeline."""
