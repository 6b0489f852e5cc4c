"""The `paybill` command line."""
