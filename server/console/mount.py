"""The console beside the MCP server on one port: ``/console`` goes to the console, every
other path (and the lifespan, which runs the MCP session manager) to the MCP app."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

MOUNT_PATH = "/console"


class WithConsole:
    def __init__(self, mcp: ASGIApp, console: ASGIApp, path: str = MOUNT_PATH) -> None:
        self.mcp, self.console, self.path = mcp, console, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == self.path or path.startswith(self.path + "/")):
            if path == self.path:  # "/console" itself: its home
                scope = {**scope, "path": self.path + "/"}
            # Starlette routes on the path below root_path; links and cookies use root_path.
            scope = {**scope, "root_path": scope.get("root_path", "") + self.path}
            await self.console(scope, receive, send)
            return
        await self.mcp(scope, receive, send)
