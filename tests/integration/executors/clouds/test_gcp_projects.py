"""GCP project vending: the real ProjectsClient (REST) against the local stand-in."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget
from paybill.server.executors.clouds.gcp import GcpProjectVendor, _is_loopback, project_id_for
from tests.support.clouds import free_port, silo_tenant
from tests.support.gcp_standin import ResourceManagerStandIn

TENANT = silo_tenant(CloudTarget.GCP)
LABELS = {"paybill_tenant_id": TENANT.id, "paybill_tier": "enterprise", "paybill_slug": "acme"}
# GCP's rules: 6-30 characters, lowercase letters, digits, hyphens; a letter first; no
# trailing hyphen.
PROJECT_ID_RULE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


def _vendor(
    standin: ResourceManagerStandIn, parent: str | None = "folders/123"
) -> GcpProjectVendor:
    return GcpProjectVendor(parent=parent, endpoint=standin.endpoint, poll_seconds=0.05)


def test_a_project_is_created_with_labels_under_the_parent(gcp: ResourceManagerStandIn) -> None:
    facts = _vendor(gcp).vend(TENANT)

    project_id = project_id_for(TENANT)
    assert facts == {
        "cloud": "gcp",
        "project_id": project_id,
        "project_name": gcp.state.projects[project_id]["name"],
        "parent": "folders/123",
        "labels": LABELS,
        "changes": ["created project"],
    }
    (create,) = gcp.state.calls("POST")
    assert create.path == "/v3/projects"
    assert create.body is not None
    assert create.body["parent"] == "folders/123"
    assert create.body["labels"] == LABELS
    # The client waited on the long-running operation instead of trusting the first answer.
    assert any(r.path.startswith("/v3/operations/") for r in gcp.state.calls("GET"))


def test_a_second_run_creates_and_changes_nothing(gcp: ResourceManagerStandIn) -> None:
    vendor = _vendor(gcp)
    first = vendor.vend(TENANT)
    writes = len(gcp.state.calls("POST")) + len(gcp.state.calls("PATCH"))

    second = vendor.vend(TENANT)

    assert second == {**first, "changes": []}
    assert len(gcp.state.calls("POST")) + len(gcp.state.calls("PATCH")) == writes
    assert len(gcp.state.projects) == 1


def test_a_rerun_restores_changed_labels(gcp: ResourceManagerStandIn) -> None:
    vendor = _vendor(gcp)
    vendor.vend(TENANT)
    project = gcp.state.projects[project_id_for(TENANT)]
    project["labels"] = {"paybill_tenant_id": TENANT.id, "team": "data"}

    facts = vendor.vend(TENANT)

    assert facts["changes"] == ["labelled project"]
    (patch,) = gcp.state.calls("PATCH")
    assert patch.query["updateMask"] == ["labels"]
    assert project["labels"] == {**LABELS, "team": "data"}  # foreign labels are kept


def test_a_project_id_taken_elsewhere_is_refused(gcp: ResourceManagerStandIn) -> None:
    gcp.state.fail_next[("POST", "/v3/projects")] = 409

    with pytest.raises(ProvisioningFailed, match="is taken by a project") as caught:
        _vendor(gcp).vend(TENANT)

    assert caught.value.details["gcp_error"] == "HTTP 409 Conflict"
    assert gcp.state.projects == {}


def test_permission_denied_becomes_provisioning_failed(gcp: ResourceManagerStandIn) -> None:
    gcp.state.fail_next[("POST", "/v3/projects")] = 403

    with pytest.raises(ProvisioningFailed) as caught:
        _vendor(gcp).vend(TENANT)

    error = caught.value
    assert error.code == "PROVISIONING_FAILED"
    assert error.message == (
        "GCP project vending for 'acme' failed while creating the project: HTTP 403 Forbidden."
    )
    assert "Traceback" not in json.dumps(error.to_payload())


def test_a_project_labelled_for_another_tenant_is_refused(gcp: ResourceManagerStandIn) -> None:
    _vendor(gcp).vend(TENANT)
    gcp.state.projects[project_id_for(TENANT)]["labels"]["paybill_tenant_id"] = "someone-else"

    with pytest.raises(ProvisioningFailed, match="belongs to another tenant"):
        _vendor(gcp).vend(TENANT)


def test_an_unreachable_endpoint_becomes_provisioning_failed() -> None:
    vendor = GcpProjectVendor(parent="folders/123", endpoint=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(ProvisioningFailed) as caught:
        vendor.vend(TENANT)

    assert "looking up the project" in caught.value.message
    assert "unreachable" in caught.value.message
    assert "\n" not in caught.value.message


def test_vending_needs_a_parent(gcp: ResourceManagerStandIn) -> None:
    with pytest.raises(ProvisioningFailed, match="PAYBILL_GCP_PARENT"):
        _vendor(gcp, parent=None).vend(TENANT)
    assert gcp.state.requests == []


@pytest.mark.parametrize("slug", ["a", "acme", "9lives", "x" * 63, "abcdefghijklmnopqrs-tuv"])
def test_project_ids_follow_gcp_rules(slug: str) -> None:
    tenant = dataclasses.replace(TENANT, slug=slug)
    other = dataclasses.replace(tenant, id="99999999-1111-4222-8333-444455556666")

    assert PROJECT_ID_RULE.match(project_id_for(tenant)), project_id_for(tenant)
    assert project_id_for(tenant) == project_id_for(tenant)  # stable across runs
    assert project_id_for(tenant) != project_id_for(other)


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("127.0.0.2:9000", True),
        ("https://cloudresourcemanager.googleapis.com", False),
        ("https://127.0.0.1.example.com", False),
        ("http://10.0.0.1", False),
    ],
)
def test_anonymous_credentials_only_for_a_loopback_endpoint(endpoint: str, loopback: bool) -> None:
    assert _is_loopback(endpoint) is loopback
