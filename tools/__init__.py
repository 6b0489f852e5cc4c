"""MCP tools: typed input and output models, one module per noun."""
