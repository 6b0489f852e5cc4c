"""A local HTTP stand-in for the Messages API, for running the agent loop offline.

It answers ``POST /v1/messages`` with scripted replies in the API's shape, one per request,
and records every request body so a test can assert what the client sent (tool results,
``is_error``...). A reply is a dict, or a function of the request body (to use an id that
an earlier tool result returned). Request headers are not recorded: they carry the key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(name: str, arguments: dict[str, Any], block_id: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": block_id, "name": name, "input": arguments}


def message(
    *blocks: dict[str, Any], stop_reason: str | None = None, tokens: int = 10
) -> dict[str, Any]:
    """A Messages API response; the stop reason follows the blocks unless given."""
    uses_tools = any(b["type"] == "tool_use" for b in blocks)
    return {
        "type": "message",
        "role": "assistant",
        "content": list(blocks),
        "stop_reason": stop_reason or ("tool_use" if uses_tools else "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": tokens, "output_tokens": tokens},
    }


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of a request's last (user) message, content parsed as JSON."""
    last = request["messages"][-1]["content"]
    found = []
    for block in last if isinstance(last, list) else []:
        if block.get("type") == "tool_result":
            content = block.get("content")
            try:
                parsed = json.loads(content) if isinstance(content, str) else content
            except json.JSONDecodeError:
                parsed = content
            found.append({**block, "content": parsed})
    return found


class StandIn:
    """Scripted replies in order; past the end of the script it answers 400, as the API
    answers a request it refuses."""

    def __init__(self, script: list[Reply]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            index = len(self.requests)
            self.requests.append(body)
        if index >= len(self.script):
            error = {"type": "invalid_request_error", "message": "stand-in script exhausted"}
            return 400, {"type": "error", "error": error}
        scripted = self.script[index]
        answer = scripted(body) if callable(scripted) else scripted
        return 200, {"id": f"msg_standin_{index:03d}", "model": body.get("model"), **answer}


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Messages(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the recorded requests are the log."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.split("?", 1)[0] != "/v1/messages":
                status, answer = 404, {"type": "error", "error": {"type": "not_found_error"}}
            else:
                status, answer = stand_in.reply(body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Messages


@contextmanager
def serve(stand_in: StandIn) -> Iterator[str]:
    """Serve ``stand_in`` on a free port of 127.0.0.1; yields the base URL for the client."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
