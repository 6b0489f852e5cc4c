"""The console over a served store, driven with Starlette's TestClient, and its login."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from paybill.server.console.app import console_app
from tests.support.served import Served

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
