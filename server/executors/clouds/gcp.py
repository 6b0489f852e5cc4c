"""GCP project vending for silo tenants: the only module that imports the Google Cloud client
libraries (google.cloud.resourcemanager, google.api_core, google.auth).

For one tenant it finds or creates the project ``pb-<slug>-<hash>`` under the configured
parent (``folders/N`` or ``organizations/N``), waits on the long-running operation, and keeps
the labels ``paybill_tenant_id``, ``paybill_tier`` and ``paybill_slug`` on it; a re-run
changes nothing. Credentials come from Application Default Credentials
(``google.auth.default``); anonymous credentials are used only when the endpoint override
points at a loopback stand-in. Every client error becomes ``ProvisioningFailed`` naming the
step and the HTTP status, never a traceback or a credential. ``find`` only reads
(``projects.get``): approval-time planning uses it, so no project exists before a human
approved the move that needs it. ``archive`` backs up and stops the silo tenant's Cloud SQL
instance (``gcp_sql``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import google.auth
import requests
from google.api_core import exceptions as api_errors
from google.api_core.client_options import ClientOptions
from google.api_core.future.polling import DEFAULT_POLLING
from google.auth import exceptions as auth_errors
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud.resourcemanager_v3 import Project, ProjectsClient
from google.protobuf.field_mask_pb2 import FieldMask

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget
from paybill.server.executors.clouds.gcp_sql import CloudSqlArchiver, RestCall
from paybill.server.executors.clouds.vending import SLUG_TAG, TENANT_TAG, TIER_TAG
from paybill.server.executors.provisioner import TenantFacts
from paybill.server.executors.terraform.cli import tier_name

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
CALL_TIMEOUT = 60.0


def project_id_for(tenant: TenantFacts) -> str:
    """``pb-<slug prefix>-<6 hex of the tenant id>``: 6-30 characters, starts with a letter.

    Project ids are unique across all of GCP and slugs are short words, so the hash of the
    tenant id keeps ``pb-acme`` from colliding with somebody else's project.
    """
    digest = hashlib.sha256(tenant.id.encode()).hexdigest()[:6]
    stem = re.sub(r"[^a-z0-9-]", "-", tenant.slug.lower())[:20].strip("-")
    return f"pb-{stem}-{digest}" if stem else f"pb-{digest}"


def tenant_labels(tenant: TenantFacts) -> dict[str, str]:
    tier = tier_name(tenant.tier)
    return {TENANT_TAG: tenant.id.lower(), TIER_TAG: tier, SLUG_TAG: tenant.slug}


def _is_loopback(endpoint: str) -> bool:
    host = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}").hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def _gcp_step(step: str, slug: str) -> Iterator[None]:
    """Translate Google client errors raised in the block into ProvisioningFailed."""
    try:
        yield
    except api_errors.GoogleAPICallError as exc:
        status = f"HTTP {exc.code} {type(exc).__name__}" if exc.code else type(exc).__name__
        raise _failed(slug, step, status) from None
    except api_errors.RetryError:
        raise _failed(slug, step, "retries exhausted") from None
    except auth_errors.GoogleAuthError as exc:
        hint = " (configure Application Default Credentials)"
        raise _failed(slug, step, f"{type(exc).__name__}{hint}") from None
    except requests.RequestException as exc:
        raise _failed(slug, step, f"{type(exc).__name__} (endpoint unreachable)") from None
    except TimeoutError:
        raise _failed(slug, step, "the operation did not finish in time; retry later") from None


def _failed(slug: str, step: str, status: str) -> ProvisioningFailed:
    return ProvisioningFailed(
        f"GCP project vending for {slug!r} failed while {step}: {status}.",
        tenant=slug,
        step=step,
        gcp_error=status,
    )


class GcpProjectVendor:
    """Vends one labelled project per silo tenant on ``gcp``."""

    cloud = CloudTarget.GCP

    def __init__(
        self,
        *,
        parent: str | None,
        endpoint: str | None = None,
        sql_endpoint: str | None = None,
        poll_seconds: float = 2.0,
        timeout_seconds: float = 600.0,
    ) -> None:
        self.parent = parent
        self.endpoint = endpoint
        self.sql_endpoint = sql_endpoint
        self.poll_seconds = poll_seconds
        self.polling = DEFAULT_POLLING.with_delay(
            initial=poll_seconds, maximum=max(poll_seconds, 30.0)
        ).with_timeout(timeout_seconds)
        self.timeout_seconds = timeout_seconds

    def _credentials(self, endpoint: str | None) -> Credentials:
        if endpoint is not None and _is_loopback(endpoint):
            return AnonymousCredentials()  # a local stand-in; never a real endpoint
        credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM])
        return credentials

    def archive(self, tenant: TenantFacts) -> dict[str, Any]:
        """Back up and stop the silo tenant's Cloud SQL instance (``paybill-<slug>``, the gcp
        module's name) in its project; a re-run changes nothing.

        Raises:
            ProvisioningFailed: no parent, no project or instance for the tenant, the project
                belongs to another tenant, or a call or operation failed.
        """
        found = self.find(tenant)
        if found is None:
            raise ProvisioningFailed(
                f"No GCP project for {tenant.slug!r}: nothing to archive, nothing was changed.",
                tenant=tenant.slug,
            )
        with _gcp_step("connecting to Cloud SQL", tenant.slug):
            session = AuthorizedSession(self._credentials(self.sql_endpoint))
        call = _rest_call(session, tenant.slug)
        sql = CloudSqlArchiver(call, endpoint=self.sql_endpoint, poll_seconds=self.poll_seconds)
        done = sql.archive(found["project_id"], f"paybill-{tenant.slug}", tenant.slug)
        return {"cloud": CloudTarget.GCP.value, "project_id": found["project_id"], **done}

    def vend(self, tenant: TenantFacts) -> dict[str, Any]:
        """Create or find the tenant's project; return its facts.

        Raises:
            ProvisioningFailed: no parent is configured, a call or the operation failed,
                the project id is taken by a project Paybill cannot see, or the project
                belongs to another tenant or is being deleted.
        """
        self._parent(tenant)
        project_id, labels = project_id_for(tenant), tenant_labels(tenant)
        changes: list[str] = []
        client = self._client(tenant)
        with _gcp_step("looking up the project", tenant.slug):
            project = _get(client, project_id)
        if project is None:
            project = self._create(client, tenant, project_id, labels)
            changes.append("created project")
        _check(project, tenant)
        if any(project.labels.get(key) != value for key, value in labels.items()):
            with _gcp_step("labelling the project", tenant.slug):
                update = Project(name=project.name, labels={**project.labels, **labels})
                operation = client.update_project(
                    project=update, update_mask=FieldMask(paths=["labels"]), timeout=CALL_TIMEOUT
                )
                project = operation.result(timeout=self.timeout_seconds, polling=self.polling)
            changes.append("labelled project")
        return {**_facts(project), "changes": changes}

    def planned(self, tenant: TenantFacts) -> dict[str, Any]:
        """What ``vend`` would create: the project (id, display name, parent, labels).

        Raises:
            ProvisioningFailed: no parent is configured.
        """
        return {
            "cloud": CloudTarget.GCP.value,
            "project_id": project_id_for(tenant),
            "display_name": _display_name(tenant),
            "parent": self._parent(tenant),
            "labels": tenant_labels(tenant),
        }

    def find(self, tenant: TenantFacts) -> dict[str, Any] | None:
        """The tenant's project if it exists, else None; read-only (``projects.get``).

        Raises:
            ProvisioningFailed: no parent, the call failed, or the project belongs to
                another tenant or is not active.
        """
        self._parent(tenant)
        client = self._client(tenant)
        with _gcp_step("looking up the project", tenant.slug):
            project = _get(client, project_id_for(tenant))
        if project is None:
            return None
        _check(project, tenant)
        return _facts(project)

    def _parent(self, tenant: TenantFacts) -> str:
        if not self.parent:
            raise ProvisioningFailed(
                "GCP project vending needs a parent; set PAYBILL_GCP_PARENT to folders/N or "
                "organizations/N.",
                tenant=tenant.slug,
            )
        return self.parent

    def _client(self, tenant: TenantFacts) -> ProjectsClient:
        with _gcp_step("connecting", tenant.slug):
            return ProjectsClient(
                credentials=self._credentials(self.endpoint),
                transport="rest",
                client_options=ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None,
            )

    def _create(
        self, client: ProjectsClient, tenant: TenantFacts, project_id: str, labels: dict[str, str]
    ) -> Project:
        wanted = Project(
            project_id=project_id,
            parent=self.parent,
            display_name=_display_name(tenant),
            labels=labels,
        )
        with _gcp_step("creating the project", tenant.slug):
            try:
                operation = client.create_project(project=wanted, timeout=CALL_TIMEOUT)
            except api_errors.Conflict:
                # Project ids are global: ours is held by a project these credentials cannot
                # see (somebody else's, or one they may not read).
                raise ProvisioningFailed(
                    f"The GCP project id {project_id} for {tenant.slug!r} is taken by a project "
                    "Paybill cannot read; check the credentials' access or free the id.",
                    tenant=tenant.slug,
                    gcp_error="HTTP 409 Conflict",
                ) from None
            # The operation's result is untyped in google-api-core: it is the new Project.
            created: Project = operation.result(timeout=self.timeout_seconds, polling=self.polling)
            return created


def _rest_call(session: AuthorizedSession, slug: str) -> RestCall:
    """One Cloud SQL Admin REST call as ``gcp_sql`` makes them: JSON in and out, every
    transport, auth or HTTP error a ProvisioningFailed naming the step and the status."""

    def call(
        method: str, url: str, step: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with _gcp_step(step, slug):
            response = session.request(method, url, json=body, timeout=CALL_TIMEOUT)
        if response.status_code >= 400:
            try:
                status = response.json().get("error", {}).get("status", "")
            except ValueError:
                status = ""
            raise _failed(slug, step, f"HTTP {response.status_code} {status}".strip())
        answer: dict[str, Any] = response.json() if response.content else {}
        return answer

    return call


def _display_name(tenant: TenantFacts) -> str:
    return f"Paybill {tenant.slug}"[:30]  # GCP's limit


def _facts(project: Project) -> dict[str, Any]:
    return {
        "cloud": CloudTarget.GCP.value,
        "project_id": project.project_id,
        "project_name": project.name,
        "parent": project.parent,
        "labels": dict(project.labels),
    }


def _get(client: ProjectsClient, project_id: str) -> Project | None:
    try:
        return client.get_project(name=f"projects/{project_id}", timeout=CALL_TIMEOUT)
    # GCP answers 403 rather than 404 for a project the caller cannot see, existing or not.
    except (api_errors.NotFound, api_errors.Forbidden):
        return None


def _check(project: Project, tenant: TenantFacts) -> None:
    owner = project.labels.get(TENANT_TAG)
    if owner is not None and owner != tenant.id.lower():
        raise ProvisioningFailed(
            f"The GCP project {project.project_id} named for {tenant.slug!r} belongs to another "
            f"tenant ({owner}); resolve it by hand before provisioning.",
            tenant=tenant.slug,
        )
    if project.state != Project.State.ACTIVE:
        raise ProvisioningFailed(
            f"The GCP project {project.project_id} for {tenant.slug!r} is "
            f"{project.state.name.lower()}; restore it before provisioning.",
            tenant=tenant.slug,
        )
