"""Live agent evals: Claude drives Paybill's MCP tools through a scenario.

scenarios   a scenario as data (who, seed, task, limits, the store check)
tools       MCP tools and results in the Messages API's shapes
runner      the agent loop (the only module that imports ``anthropic``)
recorder    the run as a replayable transcript (``paybill eval replay``)
standin     a local HTTP stand-in for the Messages API, for offline tests
cli         ``paybill eval agent SCENARIO``
"""
