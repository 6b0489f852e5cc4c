"""What a tenant role sees of a workflow run: step outputs by an allow-list of keys.

Step outputs are written for operators: they carry server paths (export bundles, Terraform
workspaces, infrastructure records), provisioner objects and cloud account facts. A
tenant-scoped caller sees only the keys below, which describe its own tenant's progress and
data; anything else is withheld, and any string that still looks like a server path is masked
(in outputs the whole value, in error messages and progress the path itself).
"""

from __future__ import annotations

import re
from typing import Any

from paybill.server.core.vocabulary import Role
from paybill.tools.models import RunOut

# Top-level step output keys a tenant role may read (values are checked again below).
TENANT_OUTPUT_KEYS = frozenset(
    {
        # lifecycle moves, offboarding, deletion
        "from",
        "to",
        "disabled_principals",
        "format_version",
        "overall_sha256",
        "tables",
        "deletion_run",
        "not_before",
        "verified",
        # plan changes and scheduled downgrades
        "plan",
        "isolation_migration",
        "superseded",
        "already_on",
        "fits",
        # isolation migrations
        "from_plan",
        "to_plan",
        "from_isolation",
        "to_isolation",
        "read_only_since",
        "max_read_only_seconds",
        "read_only_window",
        "source",
        "target",
        "source_read_only",
        "rows",
        "total_rows",
        "renumbered",
        "equal",
        "switched_at",
        "reads_from",
        "old_copy",
        "skipped",
    }
)
MASK = "[server detail withheld]"
PATH_MASK = "[server path]"
# An absolute POSIX or Windows path, or a file URL, at the start of a word or after a quote,
# bracket or "=": never shown to a tenant.
_PATH = re.compile(
    r"(?:(?<=^)|(?<=[\s'\"=(\[]))(?:file:/*|[A-Za-z]:\\|/(?=[^\s/]))[^\s'\"()\[\],;]*"
)


def mask_paths(text: str) -> str:
    """``text`` with every server path replaced (error messages, progress)."""
    return _PATH.sub(PATH_MASK, text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return MASK if _PATH.search(value) else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    if error is None:
        return None
    message = error.get("message")
    masked = {**error, "details": _clean(error.get("details") or {})}
    return {**masked, "message": mask_paths(message)} if isinstance(message, str) else masked


def tenant_output(output: dict[str, Any] | None) -> dict[str, Any] | None:
    """A step output reduced to the keys a tenant role may read, paths masked."""
    if output is None:
        return None
    return {k: _clean(v) for k, v in output.items() if k in TENANT_OUTPUT_KEYS}


def run_for(role: Role, run: RunOut) -> RunOut:
    """``run`` as ``role`` may see it: in full for platform roles, step outputs reduced for
    tenant-scoped ones."""
    if not role.tenant_scoped:
        return run
    steps = [
        s.model_copy(
            update={
                "output": tenant_output(s.output),
                "error": mask_paths(s.error) if s.error else s.error,
            }
        )
        for s in run.steps
    ]
    progress = mask_paths(run.progress) if run.progress else run.progress
    return run.model_copy(update={"steps": steps, "error": _error(run.error), "progress": progress})
