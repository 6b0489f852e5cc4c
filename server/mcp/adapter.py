"""Turn pipeline tool specs into MCP tools: the only module that touches the SDK's Tool type.

The SDK would validate arguments itself and report failures as bare text. Paybill wants
every failure as a typed ``INVALID_INPUT`` and unknown arguments refused, so each MCP tool
advertises the input model's exact JSON schema but hands the raw arguments to the pipeline,
which validates them with the same model.
"""

import inspect
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ConfigDict

from paybill.server import __version__
from paybill.server.guards.pipeline import Outcome, Pipeline
from paybill.server.guards.spec import ToolSpec

PrincipalOf = Callable[[Context], str | None]
POLL_SECONDS = 0.2
log = logging.getLogger("paybill.mcp")


class _RawArguments(ArgModelBase):
    """Accepts any arguments object and passes it through whole as ``arguments``."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def result_of(outcome: Outcome) -> CallToolResult:
    text = json.dumps(outcome.payload, ensure_ascii=False)
    return CallToolResult(
        is_error=outcome.is_error,
        structured_content=outcome.payload,
        content=[TextContent(type="text", text=text)],
    )


def annotations_of(spec: ToolSpec) -> ToolAnnotations:
    """Hints that say what the guards enforce: read-only tools change nothing, and the
    destructive ones are exactly those behind an approval."""
    return ToolAnnotations(
        title=spec.title,
        read_only_hint=spec.read_only,
        destructive_hint=spec.destructive,
        idempotent_hint=True,  # reads, and writes replayed by idempotency_key
        open_world_hint=False,
    )


async def _wait(
    spec: ToolSpec, pipeline: Pipeline, raw: dict[str, Any], outcome: Outcome, ctx: Context
) -> Outcome:
    """Poll what the call waits for until it is done or the caller's wait is over, reporting
    each change as MCP progress. The call already passed every guard; sleeping happens on
    the event loop, and each look is a short read in a thread."""
    if spec.poll is None or spec.wait_seconds is None:
        return outcome
    arguments = spec.input_model.model_validate(raw)
    seconds = spec.wait_seconds(arguments)
    if seconds <= 0:
        return outcome
    deadline = anyio.current_time() + seconds
    last: tuple[float, float | None, str] | None = None
    try:
        while True:
            poll = await anyio.to_thread.run_sync(spec.poll, pipeline.services, arguments)
            if poll.progress != last:
                await ctx.report_progress(*poll.progress)
                last = poll.progress
            outcome = Outcome(poll.payload, is_error=False)
            if poll.done or anyio.current_time() >= deadline:
                return outcome
            await anyio.sleep(POLL_SECONDS)
    except Exception:
        # The call itself succeeded and is on record; only the wait failed.
        log.exception("waiting after %s failed", spec.name)
        return outcome


def build_tool(spec: ToolSpec, pipeline: Pipeline, principal_of: PrincipalOf) -> Tool:
    async def run(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        principal = principal_of(ctx)
        outcome = await anyio.to_thread.run_sync(pipeline.call, spec.name, principal, arguments)
        if spec.poll is not None and not outcome.is_error:
            outcome = await _wait(spec, pipeline, arguments, outcome, ctx)
        return result_of(outcome)

    returns = Annotated[CallToolResult, spec.output_model]
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("arguments", inspect.Parameter.KEYWORD_ONLY, annotation=dict),
            inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context),
        ],
        return_annotation=returns,
    )
    run.__annotations__ = {"arguments": dict, "ctx": Context, "return": returns}
    run.__name__ = spec.name
    tool = Tool.from_function(
        run,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=annotations_of(spec),
        structured_output=True,
    )
    tool.parameters = spec.input_model.model_json_schema()
    tool.fn_metadata.arg_model = _RawArguments
    return tool


def http_principal(ctx: Context) -> str | None:
    """The principal that the HTTP bearer middleware authenticated for this request."""
    token = get_access_token()
    return token.client_id if token is not None else None


def build_mcp_server(pipeline: Pipeline, principal_of: PrincipalOf, instructions: str) -> MCPServer:
    """An MCP server whose tools all run through one guard pipeline."""
    tools = [build_tool(spec, pipeline, principal_of) for spec in pipeline.registry.values()]
    return MCPServer(name="paybill", version=__version__, instructions=instructions, tools=tools)
