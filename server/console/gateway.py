"""Every console read and action is a tool call through the guard pipeline, as the
logged-in principal: the ACL, the audit log and four-eyes apply exactly as over MCP."""

from __future__ import annotations

from typing import Any

import anyio

from paybill.server.guards.pipeline import Pipeline


class ToolRefused(Exception):
    """A tool call answered with a typed error (already audited by the pipeline)."""

    def __init__(self, tool: str, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.tool = tool
        self.code = str(error.get("code", "INTERNAL"))
        self.message = str(error.get("message", "The request failed."))


class Gateway:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def call(self, principal: str, tool: str, /, **arguments: Any) -> dict[str, Any]:
        """The tool's structured result.

        Raises:
            ToolRefused: the pipeline refused the call or it failed.
        """
        outcome = await anyio.to_thread.run_sync(self.pipeline.call, tool, principal, arguments)
        if outcome.is_error:
            raise ToolRefused(tool, outcome.payload.get("error", {}))
        return outcome.payload

    async def attempt(
        self, principal: str, tool: str, /, **arguments: Any
    ) -> tuple[dict[str, Any] | None, ToolRefused | None]:
        """A read a page can do without (usage, verification): its result or its refusal."""
        try:
            return await self.call(principal, tool, **arguments), None
        except ToolRefused as refused:
            return None, refused
