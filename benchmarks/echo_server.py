"""The floor: a bare MCP SDK server with one ``echo`` tool, over stdio or streamable HTTP.

Built like Paybill's adapter (the SDK's low-level ``Server``, a tool with input and output
schemas, a result carrying structured content and its JSON text), minus the guard pipeline
and the store. Usage: python benchmarks/echo_server.py [--port PORT]  (stdio without one).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio
import uvicorn
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.types import (
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
)

SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
}
ECHO = Tool(name="echo", description="Echo the text.", input_schema=SCHEMA, output_schema=SCHEMA)


async def _list(
    ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
) -> ListToolsResult:
    return ListToolsResult(tools=[ECHO])


async def _call(
    ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
) -> CallToolResult:
    payload = {"text": str((params.arguments or {}).get("text", ""))}
    return CallToolResult(
        structured_content=payload, content=[TextContent(type="text", text=json.dumps(payload))]
    )


def echo_server() -> Server[Any]:
    return Server("echo", on_list_tools=_list, on_call_tool=_call)


async def _stdio(server: Server[Any]) -> None:
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    server = echo_server()
    if args.port is None:
        anyio.run(_stdio, server)
        return
    app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
