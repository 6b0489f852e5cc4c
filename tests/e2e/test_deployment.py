"""A running `paybill serve` as a deployment sees it: probes, and the Host, Origin and
X-Forwarded-For a reverse proxy passes, with a real HTTP client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from paybill.server.domain.bootstrap import initialise
from paybill.server.mcp.health import HealthChecks
from paybill.server.store import AuditEvent, migrate
from paybill.server.store.database import Database
from tests.support.served import Served
from tests.support.serving import INITIALIZE, paybill_http

PUBLIC = "https://paybill.example.com"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Hosts, origins, forwarded addresses and probes are the HTTP layer's, the same on
    either store: one backend keeps these server starts cheap."""
    return str(request.param)


@pytest.fixture
def deployed(served: Served) -> Iterator[httpx2.Client]:
    env = {
        **served.env(),
        "PAYBILL_PUBLIC_URL": PUBLIC,
        "PAYBILL_ALLOWED_HOSTS": json.dumps(["paybill.internal:*"]),
        "PAYBILL_FORWARDED_ALLOW_IPS": json.dumps(["127.0.0.1"]),
    }
    with (
        paybill_http(env, "streamable-http") as port,
        httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        yield client


def _initialize(client: httpx2.Client, key: str, **headers: str) -> httpx2.Response:
    return client.post(
        "/mcp",
        json=INITIALIZE,
        headers={
            "Authorization": f"Bearer {key}",
            "Accept": "application/json, text/event-stream",
            **headers,
        },
    )


def test_probes_answer_without_a_key(served: Served, deployed: httpx2.Client) -> None:
    assert deployed.get("/healthz").json() == {"status": "ok"}
    ready = deployed.get("/readyz")
    assert ready.status_code == 200
    head = migrate.head_revision(served.services.db.engine)
    assert ready.json() == {"status": "ready", "revision": head}
    assert deployed.post("/healthz").status_code == 405
    assert deployed.get("/mcp").status_code == 401  # everything else still needs a key


def test_the_public_name_and_allowed_hosts_pass_the_host_check(
    served: Served, deployed: httpx2.Client
) -> None:
    key = served.keys["ops"]
    assert _initialize(deployed, key, Host="paybill.example.com").status_code == 200
    assert _initialize(deployed, key, Host="paybill.internal:9443").status_code == 200
    assert _initialize(deployed, key, Origin=PUBLIC).status_code == 200
    assert _initialize(deployed, key, Host="evil.example").status_code == 421
    assert _initialize(deployed, key, Origin="https://evil.example").status_code == 403


def test_the_trusted_proxys_client_address_is_audited(
    served: Served, deployed: httpx2.Client
) -> None:
    refused = _initialize(deployed, "pb_not_a_key", **{"X-Forwarded-For": "203.0.113.7"})
    assert refused.status_code == 401
    with served.services.db.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.rule == "http:UNAUTHENTICATED")
        ).one()
    assert event.arguments["client"] == "203.0.113.7"


def test_an_untrusted_peer_cannot_claim_an_address(served: Served) -> None:
    with (
        paybill_http(served.env(), "streamable-http") as port,
        httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        refused = _initialize(client, "pb_not_a_key", **{"X-Forwarded-For": "203.0.113.7"})
        assert refused.status_code == 401
        # Not trusted by default: the public name is not served either.
        assert (
            _initialize(client, served.keys["ops"], Host="paybill.example.com").status_code == 421
        )
    with served.services.db.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.rule == "http:UNAUTHENTICATED")
        ).one()
    assert event.arguments["client"] == "127.0.0.1"


def test_readiness_fails_on_a_store_behind_or_unreachable(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    initialise(db)
    app = HealthChecks(Starlette(), db)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        migrate.downgrade(db.engine, "0010")
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert "revision 0010" in behind.json()["reason"]
        assert "paybill init" in behind.json()["reason"]
    unreachable = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    with TestClient(HealthChecks(Starlette(), unreachable)) as client:
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json() == {"status": "not_ready", "reason": "the store is unreachable"}
        assert client.get("/healthz").status_code == 200
