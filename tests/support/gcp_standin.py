"""A local stand-in for the Resource Manager v3 REST API: just the calls GcpProjectVendor
makes (get, create, patch a project; poll an operation), with the state in memory.

Operations start unfinished so the client really polls ``GET /v3/operations/...``. Tests
queue error answers with ``fail_next`` and read ``requests`` to see what the client sent.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROJECT_TYPE = "type.googleapis.com/google.cloud.resourcemanager.v3.Project"
STATUS = {403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 500: "INTERNAL"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None


@dataclass
class ResourceManagerState:
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    # (method, path prefix) -> HTTP status, answered once by the next matching request.
    fail_next: dict[tuple[str, str], int] = field(default_factory=dict)
    numbers: Any = field(default_factory=lambda: itertools.count(100000000001))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]


class Handler(BaseHTTPRequestHandler):
    state: ResourceManagerState  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        error = {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}
        self._send(status, {"error": error})

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        state = self.state
        with state.lock:
            state.requests.append(Recorded(method, url.path, parse_qs(url.query), body))
            for (fail_method, prefix), status in list(state.fail_next.items()):
                if fail_method == method and url.path.startswith(prefix):
                    del state.fail_next[(fail_method, prefix)]
                    return self._error(status, f"injected {status}")
            return self._route(method, url.path, body)

    def _route(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        state = self.state
        if method == "POST" and path == "/v3/projects":
            assert body is not None
            if body["projectId"] in state.projects:
                return self._error(409, "Requested entity already exists")
            project = {
                **body,
                "name": f"projects/{next(state.numbers)}",
                "state": "ACTIVE",
                "createTime": "2026-11-29T12:00:00Z",
            }
            state.projects[body["projectId"]] = project
            return self._send(200, self._operation(project))
        if path.startswith("/v3/operations/"):
            operation = state.operations.get(path.removeprefix("/v3/"))
            if operation is None:
                return self._error(404, "no such operation")
            operation["done"] = True  # finished by the first poll
            return self._send(200, operation)
        if path.startswith("/v3/projects/"):
            project = self._project(path.removeprefix("/v3/projects/"))
            if project is None:
                return self._error(403, "Permission denied (or it may not exist)")
            if method == "GET":
                return self._send(200, project)
            if method == "PATCH":
                assert body is not None
                project["labels"] = body.get("labels", {})
                return self._send(200, self._operation(project))
        return self._error(404, f"not served by the stand-in: {method} {path}")

    def _project(self, key: str) -> dict[str, Any] | None:
        for project_id, project in self.state.projects.items():
            if key in (project_id, project["name"].removeprefix("projects/")):
                return project
        return None

    def _operation(self, project: dict[str, Any]) -> dict[str, Any]:
        name = f"operations/cp.{len(self.state.operations) + 1}"
        operation = {"name": name, "done": False, "response": {"@type": PROJECT_TYPE, **project}}
        self.state.operations[name] = operation
        return {"name": name, "done": False}

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


class ResourceManagerStandIn:
    """Serves on 127.0.0.1 on a free port until ``close``."""

    def __init__(self) -> None:
        self.state = ResourceManagerState()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
