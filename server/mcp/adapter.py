"""Serve the guard pipeline's tool specs as MCP tools: the only module that builds the SDK server.

Built on the SDK's low-level ``Server``, whose documented contract is what Paybill needs: it
advertises exactly the ``Tool`` it is handed and passes ``tools/call`` arguments through
unvalidated. So each tool advertises its input model's exact JSON schema and the pipeline alone
validates the raw arguments, answering a typed ``INVALID_INPUT``. ``MCPServer`` derives schemas
from function signatures and rejects arguments itself as bare text; bending it meant patching
its internals.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp.server import Server, ServerRequestContext
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    TextContent,
    Tool,
    ToolAnnotations,
)
from pydantic_core import to_json

from paybill.server import __version__
from paybill.server.guards.offered import offered_tools
from paybill.server.guards.pipeline import Outcome, Pipeline
from paybill.server.guards.spec import ToolSpec

ToolServer = Server[Any]
RequestContext = ServerRequestContext[Any, Any]
PrincipalOf = Callable[[RequestContext], str | None]
# (progress, total, message), sent as notifications/progress when the caller asked for them.
ReportProgress = Callable[[float, float | None, str | None], Awaitable[None]]
POLL_SECONDS = 0.2
log = logging.getLogger("paybill.mcp")


def result_of(outcome: Outcome) -> CallToolResult:
    """The payload as structured content and, once serialised, as its JSON text: the spec
    asks a tool returning structured content to return it as text too, and clients that show
    the model only ``content`` need all of it. The payload is already JSON-ready (the output
    model's ``model_dump(mode="json")``), so the result is built without validating it again;
    the SDK checks the result's shape once more before sending it."""
    text = to_json(outcome.payload).decode()
    return CallToolResult.model_construct(
        is_error=outcome.is_error,
        structured_content=outcome.payload,
        content=[TextContent.model_construct(type="text", text=text)],
    )


def _text_error(text: str) -> CallToolResult:
    """A failure outside the pipeline, worded as the SDK's MCPServer words it."""
    return CallToolResult(is_error=True, content=[TextContent(type="text", text=text)])


def annotations_of(spec: ToolSpec) -> ToolAnnotations:
    """Hints that say what a call really does (``ToolSpec.writes`` and ``repeatable``,
    checked against each tool's behaviour by the annotation tests)."""
    return ToolAnnotations(
        title=spec.title,
        read_only_hint=spec.read_only,
        destructive_hint=spec.destructive,
        idempotent_hint=spec.repeatable,
        open_world_hint=False,
    )


def tool_of(spec: ToolSpec) -> Tool:
    """The tool as advertised: the schemas are the models' own, so what a client is told to
    send is exactly what the pipeline validates."""
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_model.model_json_schema(),
        output_schema=spec.output_model.model_json_schema(),
        annotations=annotations_of(spec),
    )


async def _wait(
    spec: ToolSpec,
    pipeline: Pipeline,
    raw: dict[str, Any],
    outcome: Outcome,
    report: ReportProgress,
    principal: str | None,
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
            poll = await anyio.to_thread.run_sync(
                spec.poll, pipeline.services, arguments, principal
            )
            if poll.progress != last:
                await report(*poll.progress)
                last = poll.progress
            outcome = Outcome(poll.payload, is_error=False)
            if poll.done or anyio.current_time() >= deadline:
                return outcome
            await anyio.sleep(POLL_SECONDS)
    except Exception:
        # The call itself succeeded and is on record; only the wait failed.
        log.exception("waiting after %s failed", spec.name)
        return outcome


class _Tools:
    """The tools/list and tools/call handlers over one pipeline."""

    def __init__(self, pipeline: Pipeline, principal_of: PrincipalOf, read_only: bool) -> None:
        self.pipeline = pipeline
        self.principal_of = principal_of
        # Console-only tools (and, in read-only mode, every tool that writes) are not served
        # here at all: not listed, and called as unknown tools.
        self.specs = {
            name: spec
            for name, spec in pipeline.registry.items()
            if "mcp" in spec.surfaces and (spec.read_only or not read_only)
        }
        self.tools = [tool_of(spec) for spec in self.specs.values()]
        self.schemas = {tool.name: tool.input_schema for tool in self.tools}

    async def list_tools(
        self, ctx: RequestContext, params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        """The tools the caller's role may call (``guards.offered``)."""
        offered = await anyio.to_thread.run_sync(
            offered_tools, self.pipeline.services, self.principal_of(ctx), self.specs.values()
        )
        return ListToolsResult(tools=[tool for tool in self.tools if tool.name in offered])

    async def call_tool(self, ctx: RequestContext, params: CallToolRequestParams) -> CallToolResult:
        spec = self.specs.get(params.name)
        if spec is None:
            outcome = await anyio.to_thread.run_sync(
                self.pipeline.unknown_tool, params.name, self.principal_of(ctx)
            )
            return result_of(outcome)
        arguments = dict(params.arguments or {})
        try:
            principal = self.principal_of(ctx)
            outcome = await anyio.to_thread.run_sync(
                self.pipeline.call, spec.name, principal, arguments
            )
            if spec.poll is not None and not outcome.is_error:
                outcome = await _wait(
                    spec, self.pipeline, arguments, outcome, ctx.session.report_progress, principal
                )
        except Exception:
            # The pipeline answers every failure itself; this is a bug around it. Its text
            # stays in the server's log.
            log.exception("calling %s failed outside the pipeline", spec.name)
            return _text_error(f"Error executing tool {spec.name}")
        return result_of(outcome)


# Paybill has no resources or prompts. It keeps advertising both, as it always has (clients
# probe them): empty lists, and a not-found error for any name a client asks for anyway.
async def _no_resources(
    ctx: RequestContext, params: PaginatedRequestParams | None
) -> ListResourcesResult:
    return ListResourcesResult(resources=[])


async def _no_templates(
    ctx: RequestContext, params: PaginatedRequestParams | None
) -> ListResourceTemplatesResult:
    return ListResourceTemplatesResult(resource_templates=[])


async def _unknown_resource(
    ctx: RequestContext, params: ReadResourceRequestParams
) -> ReadResourceResult:
    uri = str(params.uri)
    raise MCPError(code=INVALID_PARAMS, message=f"Unknown resource: {uri}", data={"uri": uri})


async def _no_prompts(
    ctx: RequestContext, params: PaginatedRequestParams | None
) -> ListPromptsResult:
    return ListPromptsResult(prompts=[])


async def _unknown_prompt(ctx: RequestContext, params: GetPromptRequestParams) -> GetPromptResult:
    raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {params.name}")


def http_principal(ctx: RequestContext) -> str | None:
    """The principal that the HTTP bearer middleware authenticated for this request."""
    token = get_access_token()
    return token.client_id if token is not None else None


def build_mcp_server(
    pipeline: Pipeline, principal_of: PrincipalOf, instructions: str, *, read_only: bool = False
) -> ToolServer:
    """An MCP server whose tools all run through one guard pipeline; ``read_only`` serves
    only the tools that change nothing."""
    tools = _Tools(pipeline, principal_of, read_only)
    return Server(
        "paybill",
        version=__version__,
        instructions=instructions,
        # Mcp-Param-* header checks look the schema up here instead of listing every tool.
        get_tool_input_schema=tools.schemas.get,
        on_list_tools=tools.list_tools,
        on_call_tool=tools.call_tool,
        on_list_resources=_no_resources,
        on_list_resource_templates=_no_templates,
        on_read_resource=_unknown_resource,
        on_list_prompts=_no_prompts,
        on_get_prompt=_unknown_prompt,
        # Served (and so advertised) as by MCPServer; nothing is ever published on it, since
        # the tool list never changes at run time.
        on_subscriptions_listen=ListenHandler(InMemorySubscriptionBus()),
    )
