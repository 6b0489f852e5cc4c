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
from sqlalchemy import select
from starlette.testclient import TestClient

from paybill.server.app import build_pipeline, build_services
from paybill.server.console.app import console_app
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.store import Tenant
from paybill.server.workflows.engine.worker import tenant_facts
from tests.support.served import Served, close, populate
from tests.support.serving import PAYBILL, free_port
from tests.support.tenant_data import seed

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


@pytest.fixture
def terraform_served(store_url: str, tmp_path: Path, terraform: Terraform) -> Iterator[Served]:
    """A populated store provisioning through the offline Terraform (acme's module applied),
    so a plan change's approval binds a real saved plan. ``env()`` does not carry the
    provisioner settings: add ``terraform_env``'s."""
    settings = Settings(
        database_url=store_url,
        data_dir=tmp_path / "data",
        provisioner="terraform",
        terraform_bin=terraform.binary,
        terraform_cli_config=terraform.cli_config,
        rate_per_minute=10_000,
    )
    local = build_services(settings.model_copy(update={"provisioner": "local"}))
    keys = populate(local)
    close(local)
    services = build_services(settings)
    with services.db.session() as session:
        acme = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        assert acme is not None
        facts = tenant_facts(acme)
    services.provisioner.provision(facts)
    seed(services.engines, TenantRoute(facts.id, Isolation.POOLED), "acme")  # rows to move
    yield Served(services, build_pipeline(services), keys)
    close(services)


def terraform_env(served: Served) -> dict[str, str]:
    settings = served.services.settings
    return {
        **served.env(),
        "PAYBILL_PROVISIONER": "terraform",
        "PAYBILL_TERRAFORM_BIN": str(settings.terraform_bin),
        "PAYBILL_TERRAFORM_CLI_CONFIG": str(settings.terraform_cli_config),
    }
