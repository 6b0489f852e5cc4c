"""The guard pipeline every tool call passes: authn, ACL, limits, workflow gate, audit."""
