"""A real HTTP receiver on 127.0.0.1 for webhook tests: it answers each request with the next
status of a script (the last one repeats), records what it got, and may hold requests open."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    statuses: list[int]
    delay_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Received) -> int:
        with self._lock:
            self.received.append(request)
            index = min(len(self.received) - 1, len(self.statuses) - 1)
        self.arrived.set()
        return self.statuses[index]


@contextmanager
def webhook_receiver(statuses: list[int], delay_seconds: float = 0.0) -> Iterator[Receiver]:
    receiver = Receiver(statuses, delay_seconds)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the http.server hook's name
            length = int(self.headers.get("Content-Length", "0"))
            request = Received(dict(self.headers.items()), self.rfile.read(length))
            status = receiver.answer(request)
            threading.Event().wait(receiver.delay_seconds)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/paybill"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def verify_signature(secret: bytes, header: str, body: bytes, now: float, tolerance: float) -> bool:
    """A receiver's check of ``Paybill-Signature``, as docs/approvals.md shows it."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(now - stamp) <= tolerance
    return fresh and hmac.compare_digest(expected, parts.get("v1", ""))
