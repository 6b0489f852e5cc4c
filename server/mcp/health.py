"""``/healthz`` (the process answers) and ``/readyz`` (the store is reachable and migrated to
this server's revision), for load balancers and orchestrators. Neither needs a key: they
say nothing a probe may not know (no address, no version beyond the store revision)."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from paybill.server.mcp.json_response import send_json
from paybill.server.store import migrate
from paybill.server.store.database import Database

HEALTH_PATH, READY_PATH = "/healthz", "/readyz"
log = logging.getLogger("paybill.http")


class HealthChecks:
    """Answers the two probe paths; every other request goes on to ``app``."""

    def __init__(self, app: ASGIApp, db: Database) -> None:
        self.app, self.db = app, db
        self.head = migrate.head_revision(db.engine)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or path not in (HEALTH_PATH, READY_PATH):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, {"status": "method_not_allowed"}, scope)
            return
        if path == HEALTH_PATH:
            await _send(send, 200, {"status": "ok"}, scope)
            return
        ready, body = await anyio.to_thread.run_sync(self._readiness)
        await _send(send, 200 if ready else 503, body, scope)

    def _readiness(self) -> tuple[bool, dict[str, Any]]:
        try:
            current = migrate.current_revision(self.db.engine)
        except Exception:
            log.warning("readiness: the store is unreachable", exc_info=True)
            return False, {"status": "not_ready", "reason": "the store is unreachable"}
        if current != self.head:
            return False, {
                "status": "not_ready",
                "reason": f"the store is at revision {current or 'none'}; this server needs "
                f"{self.head}: run `paybill init`",
            }
        return True, {"status": "ready", "revision": current}


async def _send(send: Send, status: int, body: dict[str, Any], scope: Scope) -> None:
    no_store = [(b"cache-control", b"no-store")]
    await send_json(send, status, body, no_store, head=scope["method"] == "HEAD")
