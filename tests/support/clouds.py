"""A real moto_server on 127.0.0.1 (AWS) and the Resource Manager stand-in (GCP).

The clients under test are the real boto3 and google-cloud-resource-manager clients talking
HTTP to these; nothing in the SDKs is mocked.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from paybill.server.core.vocabulary import CloudTarget, Isolation
from paybill.server.executors.provisioner import TenantFacts
from tests.support.gcp_standin import ResourceManagerStandIn

VENV_BIN = Path(sys.executable).parent
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_SESSION_TOKEN": "testing-token",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Keep a developer's own AWS configuration and the instance metadata service out of it.
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}
SECRETS = ("testing", "testing-secret", "testing-token")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto_server exited with {process.returncode}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1):  # noqa: S310
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    pytest.fail("moto_server did not answer within 30 s", pytrace=False)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    saved = {name: os.environ.get(name) for name in (*DUMMY_AWS, "AWS_PROFILE")}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(DUMMY_AWS)
    port = free_port()
    binary = VENV_BIN / "moto_server"
    command = [str(binary)] if binary.exists() else [sys.executable, "-m", "moto.server"]
    process = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def reset_moto(endpoint: str) -> None:
    url = f"{endpoint}/moto-api/reset"  # moto's own API: forget every resource
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - loopback http only
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


@pytest.fixture
def aws(moto_endpoint: str) -> str:
    """A fresh moto with an organisation whose management account the dummy keys act as."""
    reset_moto(moto_endpoint)
    org = boto3.client("organizations", endpoint_url=moto_endpoint, region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    return moto_endpoint


@pytest.fixture
def gcp() -> Iterator[ResourceManagerStandIn]:
    standin = ResourceManagerStandIn()
    yield standin
    standin.close()


def silo_tenant(
    cloud: CloudTarget, slug: str = "acme", tenant_id: str | None = None
) -> TenantFacts:
    return TenantFacts(
        id=tenant_id or "0d2b6c1e-1111-4222-8333-444455556666",
        slug=slug,
        plan="enterprise",
        tier=2,
        isolation=Isolation.SILO,
        cloud=cloud,
        region="eu-west-1",
    )
