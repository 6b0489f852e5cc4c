"""An OAuth authorization server's token side, on 127.0.0.1: RFC 8414 metadata naming a
JWKS, RSA signing keys the test owns (rotatable), and access tokens signed with them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Issuer:
    def __init__(self) -> None:
        self.url = ""
        self.kid = "k1"
        self.key = new_key()
        self.fetches = 0  # JWKS requests served

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def rotate(self) -> None:
        """A new key under a new kid; the old one is no longer published."""
        self.kid, self.key = f"k-{uuid.uuid4().hex[:8]}", new_key()

    def token(
        self,
        audience: str,
        *,
        lifetime: int = 300,
        key: Any = None,
        kid: str | None = None,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": audience,
            "sub": "ops",
            "iat": now,
            "exp": now + lifetime,
            "scope": "paybill",
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        signing = self.key if key is None else key
        return jwt.encode(payload, signing, algorithm=algorithm, headers={"kid": kid or self.kid})


@contextmanager
def running_issuer() -> Iterator[Issuer]:
    issuer = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/oauth-authorization-server":
                body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks.json"}
            elif self.path == "/jwks.json":
                issuer.fetches += 1
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
