"""The console over a served store, driven with Starlette's TestClient, and its login."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from starlette.testclient import TestClient

from paybill.server.console.app import console_app
from tests.support.served import Served
from tests.support.serving import PAYBILL, free_port

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def console_client(served: Served, *, raise_server_exceptions: bool = True) -> TestClient:
    app = console_app(served.pipeline, allowed_hosts=["testserver"])
    return TestClient(
        app,
        base_url="http://testserver",
        follow_redirects=False,
        raise_server_exceptions=raise_server_exceptions,
    )


def login(client: TestClient, key: str) -> TestClient:
    """Log ``client`` in with ``key`` (asserting it worked)."""
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"api_key": key, "csrf": csrf_of(page.text)},
        headers={"origin": "http://testserver"},
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def console(served: Served) -> Iterator[TestClient]:
    with console_client(served) as client:
        yield client


CHROMIUM = "/usr/bin/chromium"  # Debian's, installed by scripts/test.sh; never downloaded


@contextmanager
def paybill_console(env: dict[str, str], *args: str) -> Iterator[str]:
    """`paybill console` (with its embedded worker) on a free port; yields its base URL.
    ``args`` replace the command: e.g. ``"serve", "--transport", "streamable-http",
    "--console"`` (the console is then at ``/console`` of the yielded URL)."""
    port = free_port()
    command = list(args) or ["console"]
    proc = subprocess.Popen(
        [PAYBILL, *command, "--port", str(port)],
        env={**env, "PAYBILL_WORKER_POLL_SECONDS": "0.2"},
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
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"paybill {command[0]} exited: {stderr}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Chromium (the system's) driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test.sh (it installs Chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()
