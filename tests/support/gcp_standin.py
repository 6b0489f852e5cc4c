"""A local stand-in for the Resource Manager v3 REST API: just the calls GcpProjectVendor
makes (get, create, patch a project; poll an operation), with the state in memory. It also
serves the Cloud SQL Admin v1 calls archiving makes (get and patch an instance, list and insert
backup runs, poll an operation), as the API reference describes them: an on-demand backup of
a stopped instance (activation policy NEVER) is refused, as Cloud SQL refuses it.

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
STATUS = {
    400: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    500: "INTERNAL",
}


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
    # Cloud SQL: "project/instance" -> instance, its backup runs; operations by name.
    sql_instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    backup_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sql_operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    def add_sql_instance(self, project_id: str, name: str) -> dict[str, Any]:
        """A running instance, as the gcp module's ``google_sql_database_instance`` leaves it."""
        instance = {
            "kind": "sql#instance",
            "name": name,
            "project": project_id,
            "state": "RUNNABLE",
            "settings": {"activationPolicy": "ALWAYS"},
        }
        self.sql_instances[f"{project_id}/{name}"] = instance
        self.backup_runs[f"{project_id}/{name}"] = []
        return instance


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
        if path.startswith("/v1/projects/"):
            return self._sql(method, path.removeprefix("/v1/projects/").split("/"), body)
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

    def _sql(self, method: str, parts: list[str], body: dict[str, Any] | None) -> None:
        state = self.state
        if len(parts) == 3 and parts[1] == "operations" and method == "GET":
            operation = state.sql_operations.get(parts[2])
            if operation is None:
                return self._error(404, "no such operation")
            if operation["status"] != "DONE":  # finished by the first poll
                operation["status"] = "DONE"
                for run in operation.pop("_runs", []):
                    run["status"] = "SUCCESSFUL"
            return self._send(200, operation)
        if len(parts) < 3 or parts[1] != "instances":
            return self._error(404, f"not served by the stand-in: {method} {'/'.join(parts)}")
        key = f"{parts[0]}/{parts[2]}"
        instance = state.sql_instances.get(key)
        if instance is None:
            return self._error(404, "The Cloud SQL instance does not exist.")
        tail = parts[3:]
        if tail == [] and method == "GET":
            return self._send(200, instance)
        if tail == [] and method == "PATCH":
            assert body is not None
            instance["settings"].update(body.get("settings", {}))
            return self._send(200, self._sql_operation(parts[0], "UPDATE"))
        if tail == ["backupRuns"] and method == "GET":
            return self._send(200, {"kind": "sql#backupRunsList", "items": state.backup_runs[key]})
        if tail == ["backupRuns"] and method == "POST":
            if instance["settings"].get("activationPolicy") == "NEVER":
                return self._error(400, "The instance is not running.")
            run = {
                "kind": "sql#backupRun",
                "id": str(len(state.backup_runs[key]) + 1),
                "status": "ENQUEUED",
                "type": "ON_DEMAND",
                "description": (body or {}).get("description", ""),
                "instance": parts[2],
            }
            state.backup_runs[key].append(run)
            return self._send(200, self._sql_operation(parts[0], "BACKUP_VOLUME", run))
        return self._error(404, f"not served by the stand-in: {method} {'/'.join(parts)}")

    def _sql_operation(
        self, project: str, kind: str, run: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        name = f"op-{len(self.state.sql_operations) + 1}"
        operation = {
            "kind": "sql#operation",
            "name": name,
            "status": "PENDING",
            "operationType": kind,
            "targetProject": project,
        }
        self.state.sql_operations[name] = {**operation, "_runs": [run] if run else []}
        return operation

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
