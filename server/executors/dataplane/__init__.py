"""The tenant data plane: the tenant schema, its isolation models and scoped access."""
