"""A fresh store with one platform admin, and `paybill serve` over HTTP on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from paybill.server.bootstrap import initialise
from paybill.server.domain import Role
from paybill.server.principals import add_principal
from paybill.server.store.database import Database

PAYBILL = str(Path(sys.executable).parent / "paybill")


def npx() -> str:
    found = shutil.which("npx")
    if found is None:
        pytest.fail("npx (Node.js) is required for the client-compatibility tests")
    return found


def compat_store(tmp_path: Path) -> tuple[dict[str, str], str]:
    """Environment for `paybill` on a new store, and the API key of its platform admin."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    initialise(db)
    with db.session() as session:
        key = add_principal(session, "compat", Role.PLATFORM_ADMIN)[1].plaintext
    db.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBILL_")}
    env |= {"PAYBILL_DATABASE_URL": url, "PAYBILL_DATA_DIR": str(tmp_path / "data")}
    return env, key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def paybill_http(env: dict[str, str], transport: str) -> Iterator[int]:
    """`paybill serve --transport TRANSPORT` on a free port; yields the port once it listens."""
    port = _free_port()
    proc = subprocess.Popen(
        [PAYBILL, "serve", "--transport", transport, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stderr.read().decode()}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
