"""MCP tools and results in the Messages API's shapes (plain dicts: no SDK import here)."""

from __future__ import annotations

import json
from typing import Any

from mcp.types import CallToolResult, TextContent, Tool


def tool_definition(tool: Tool) -> dict[str, Any]:
    """An MCP tool as a Messages API tool: name, description, input_schema."""
    return {
        "name": tool.name,
        "description": tool.description or tool.title or tool.name,
        "input_schema": tool.input_schema,
    }


def result_text(result: CallToolResult) -> str:
    """What the model sees of a result: the structured content as JSON when there is any.

    Tenant rows inside it keep the server's ``content_trust: untrusted_tenant_data`` marking;
    they travel only inside the tool_result block, never in the system or user prompt.
    """
    if result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False, default=str)
    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    return "\n".join(texts) or "(no content)"


def tool_result_block(tool_use_id: str, result: CallToolResult) -> dict[str, Any]:
    """The tool_result block answering one tool_use block; MCP errors are ``is_error``."""
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": result_text(result),
        "is_error": bool(result.is_error),
    }


def refusal_block(tool_use_id: str, message: str) -> dict[str, Any]:
    """A tool_result for a call the runner did not send to the server (an unknown tool)."""
    payload = {"error": {"code": "INVALID_INPUT", "message": message, "details": {}}}
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": json.dumps(payload),
        "is_error": True,
    }


def error_code(result: CallToolResult) -> str | None:
    """The Paybill error code of a refused call (None for success or a non-Paybill error)."""
    if not result.is_error or not isinstance(result.structured_content, dict):
        return None
    error = result.structured_content.get("error")
    return error.get("code") if isinstance(error, dict) else None
