"""The guard pipeline every tool call passes (``pipeline.CHAIN``), one module per guard:
authenticate, limits, validate, tenant, authz, idempotency, lifecycle, approval, sql, retry,
quota, billing. ``spec.ToolSpec`` says which guards apply to a tool; handlers only act."""
