"""A header-adding reverse proxy for HTTP clients that cannot send `Authorization`.

The MCP conformance runner has no option for request headers, and Paybill refuses every
HTTP request without a bearer key. This proxy (127.0.0.1, test-only) forwards each request
unchanged except that it adds the key, and translates its own address to the server's in
`Host` and `Origin`, so the server's DNS-rebinding checks still see what the client sent:
a foreign Host or Origin is passed through untouched and refused by the server.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


def _handler(upstream_port: int, key: str, own_port: int) -> type[BaseHTTPRequestHandler]:
    own = {f"127.0.0.1:{own_port}", f"localhost:{own_port}"}

    class Forward(BaseHTTPRequestHandler):
        # HTTP/1.0: the body of every response ends when the connection closes, which
        # is how a streamed (SSE) answer of unknown length is relayed.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reports what matters."""

        def _headers(self) -> dict[str, str]:
            # Names are lower-cased so that no header arrives twice in two spellings.
            skip = HOP_BY_HOP | {"authorization"}
            headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in skip}
            host = headers.get("host", "")
            headers["host"] = f"127.0.0.1:{upstream_port}" if host in own else host
            origin = headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1] in own:
                headers["origin"] = f"http://127.0.0.1:{upstream_port}"
            headers["authorization"] = f"Bearer {key}"
            return headers

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=self._headers())
                response = conn.getresponse()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.end_headers()
                while chunk := response.read1(65536):
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, TimeoutError, http.client.HTTPException):
                pass  # the client hung up (e.g. closed an SSE stream): nothing to relay
            finally:
                conn.close()

        do_GET = do_POST = do_DELETE = _forward

    return Forward


@contextmanager
def auth_proxy(upstream_port: int, key: str) -> Iterator[str]:
    """Serve the proxy on a free local port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.RequestHandlerClass = _handler(upstream_port, key, port)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
