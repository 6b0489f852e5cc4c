"""Archiving a GCP silo tenant's Cloud SQL instance (offboarding) through the Cloud SQL Admin
REST API v1: an on-demand backup, then the instance stopped (activation policy ``NEVER``).

The steps only: the HTTP calls are made by ``clouds.gcp`` (the one owner of the Google
libraries; google-auth's ``AuthorizedSession``, no Cloud SQL client library), which passes a
``RestCall`` that answers JSON or raises ``ProvisioningFailed`` naming the step and the HTTP
status. Cloud SQL cannot back up a stopped instance, so the order matters; a re-run finds the
backup (by its description) and the activation policy, and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from paybill.server.core.errors import ProvisioningFailed

SQLADMIN = "https://sqladmin.googleapis.com"
BACKUP_DESCRIPTION = "paybill-archive"
UNDERWAY = ("ENQUEUED", "RUNNING", "OVERDUE")  # SqlBackupRunStatus values of a backup going on


class RestCall(Protocol):
    def __call__(
        self, method: str, url: str, step: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The JSON answer of one call. Raises: ProvisioningFailed (HTTP or transport error)."""
        ...


class CloudSqlArchiver:
    """Backs up and stops one Cloud SQL instance; ``archive`` is idempotent."""

    def __init__(
        self,
        call: RestCall,
        *,
        endpoint: str | None = None,
        poll_seconds: float = 5.0,
        timeout_seconds: float = 1800.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._call = call
        self.root = (endpoint or SQLADMIN).rstrip("/") + "/v1"
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep

    def archive(self, project: str, instance: str, slug: str) -> dict[str, Any]:
        """Back up ``instance`` in ``project`` (description ``paybill-archive``), then stop it.

        Raises:
            ProvisioningFailed: the instance is missing, already stopped without the archive
                backup (start it, then retry), or a call or operation failed.
        """
        url = f"{self.root}/projects/{project}/instances/{instance}"
        found = self._call("GET", url, "reading the instance")
        stopped = found.get("settings", {}).get("activationPolicy") == "NEVER"
        runs = self._call("GET", f"{url}/backupRuns", "listing the backups")
        ours = [r for r in runs.get("items", []) if r.get("description") == BACKUP_DESCRIPTION]
        backup = next((r for r in ours if r.get("status") == "SUCCESSFUL"), None)
        if backup is None and any(r.get("status") in UNDERWAY for r in ours):
            # A run that stopped while waiting left its backup going: never start a second.
            raise ProvisioningFailed(
                f"The {BACKUP_DESCRIPTION} backup of {instance} ({slug!r}) is still running; "
                "retry_workflow once it finished. Nothing else was changed.",
                tenant=slug,
            )
        changes: list[str] = []
        if backup is None:
            if stopped:
                raise ProvisioningFailed(
                    f"The Cloud SQL instance {instance} of {slug!r} is stopped and has no "
                    f"{BACKUP_DESCRIPTION} backup, and Cloud SQL backs up running instances "
                    f"only; start it (gcloud sql instances patch {instance} --project {project} "
                    "--activation-policy=ALWAYS), then retry_workflow. Nothing was changed.",
                    tenant=slug,
                )
            backing_up = {"description": BACKUP_DESCRIPTION}
            self._wait(
                self._call("POST", f"{url}/backupRuns", "backing up", backing_up),
                project,
                slug,
            )
            changes.append("backup")
        if not stopped:
            stopping = {"settings": {"activationPolicy": "NEVER"}}
            self._wait(self._call("PATCH", url, "stopping the instance", stopping), project, slug)
            changes.append("stop")
        return {
            "instance": instance,
            "backup": BACKUP_DESCRIPTION,
            "stopped": True,
            "changes": changes,
        }

    def _wait(self, operation: dict[str, Any], project: str, slug: str) -> None:
        url = f"{self.root}/projects/{project}/operations/{operation['name']}"
        deadline = time.monotonic() + self.timeout_seconds
        while operation.get("status") != "DONE":
            if time.monotonic() >= deadline:
                raise ProvisioningFailed(
                    f"The Cloud SQL operation {operation['name']} for {slug!r} did not finish "
                    f"within {self.timeout_seconds:.0f} s; retry_workflow later (it is resumed, "
                    "not repeated).",
                    tenant=slug,
                )
            self.sleep(self.poll_seconds)
            operation = self._call("GET", url, "waiting for the operation")
        errors = (operation.get("error") or {}).get("errors") or []
        if errors:
            codes = ", ".join(str(e.get("code", "UNKNOWN")) for e in errors)
            raise ProvisioningFailed(
                f"Cloud SQL archiving for {slug!r} failed: operation {operation['name']} "
                f"ended with {codes}.",
                tenant=slug,
                gcp_error=codes,
            )
