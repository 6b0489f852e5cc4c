"""`paybill approvals list|show|approve|reject`: decide approvals as a named principal.

Every command is a tool call through the guard pipeline (``list_approvals``,
``get_approval``, ``decide_approval``), as the principal named by ``--principal`` or
``PAYBILL_PRINCIPAL``: the ACL, four-eyes, expiry and the audit log apply exactly as over MCP.

Exit codes: 0 done; 1 the command could not run (store, configuration); 2 usage error (bad
options); 3 refused by the server (the typed code and message are printed on stderr).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Literal

import click

from paybill.server.app import build_pipeline, build_services
from paybill.server.cli import logs
from paybill.server.cli.approval_view import render, result_summary, summary_line, tenant_line
from paybill.server.cli.context import CliContext
from paybill.server.core.vocabulary import ApprovalStatus
from paybill.server.guards.pipeline import Pipeline

EXIT_REFUSED = 3
STATUSES = [*(s.value for s in ApprovalStatus), "all"]


class Refused(click.ClickException):
    """The server refused the call: its typed error, on stderr, with exit code 3."""

    exit_code = EXIT_REFUSED

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message", "")))
        self.code = str(error.get("code", "INTERNAL"))

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"refused: {self.code}: {self.message}", err=True, file=file)


@dataclass
class Approver:
    """The pipeline and the principal every command of one invocation calls it as."""

    pipeline: Pipeline
    principal: str

    def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """Raises: Refused (the call's typed error, already audited)."""
        outcome = self.pipeline.call(tool, self.principal, arguments)
        if outcome.is_error:
            raise Refused(outcome.payload["error"])
        return outcome.payload


@contextmanager
def _approver(obj: CliContext, principal: str | None) -> Iterator[Approver]:
    name = principal or obj.settings.principal
    if not name:
        raise click.UsageError("Name the approver: pass --principal NAME or set PAYBILL_PRINCIPAL.")
    logs.configure(verbose=obj.verbose, log_format=obj.settings.log_format)
    services = build_services(obj.settings)
    try:
        yield Approver(build_pipeline(services), name)
    finally:
        services.audit.checkpoint(services.reader)  # the tip, as `paybill serve` leaves it
        services.engines.dispose()
        services.reader.dispose()
        services.rate_limiter.dispose()
        services.tenant_rate.dispose()
        services.db.dispose()


_principal = click.option(
    "--principal",
    help="The principal the command acts as (default: PAYBILL_PRINCIPAL).",
)
_json = click.option("--json", "as_json", is_flag=True, help="Print the tool's JSON output.")


@click.group("approvals")
def approvals_group() -> None:
    """List, show and decide approvals (as a named principal, through the same guards as MCP).

    Exit codes: 0 done, 1 could not run, 2 usage error, 3 refused (code and message on stderr).
    """


@approvals_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), default="pending", show_default=True)
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@_principal
@_json
@click.pass_obj
def list_(obj: CliContext, status: str, limit: int, principal: str | None, as_json: bool) -> None:
    """List approvals, newest first."""
    with _approver(obj, principal) as approver:
        listed = approver.call(
            "list_approvals", status=None if status == "all" else status, limit=limit
        )
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    rows = listed["approvals"]
    if not rows:
        click.echo(f"No {'' if status == 'all' else status + ' '}approvals.")
        return
    header = f"{'ID':<36}  {'STATUS':<8}  {'TENANT':<16}  {'TOOL':<16}  {'REQUESTED BY':<16}"
    click.echo(f"{header}  SUMMARY")
    for a in rows:
        click.echo(
            f"{a['id']:<36}  {a['status']:<8}  {tenant_line(a):<16}  {a['tool']:<16}  "
            f"{a['requested_by']:<16}  {summary_line(a)}"
        )


@approvals_group.command("show")
@click.argument("approval_id")
@_principal
@_json
@click.pass_obj
def show(obj: CliContext, approval_id: str, principal: str | None, as_json: bool) -> None:
    """Show approval APPROVAL_ID and the effect it binds (what would run)."""
    with _approver(obj, principal) as approver:
        shown = approver.call("get_approval", approval_id=approval_id)
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    click.echo("\n".join(render(shown["approval"])))


def _decide(
    obj: CliContext,
    approval_id: str,
    decision: Literal["approve", "reject"],
    comment: str,
    principal: str | None,
) -> None:
    with _approver(obj, principal) as approver:
        decided = approver.call(
            "decide_approval", approval_id=approval_id, decision=decision, reason=comment
        )
    approval = decided["approval"]
    click.echo(f"Approval {approval['id']} is {approval['status']} ({approval['tool']}).")
    for line in result_summary(approval["tool"], decided.get("result")):
        click.echo(line)


_comment = click.option(
    "--comment", required=True, help="Why (3-500 characters); kept with the approval and audited."
)


@approvals_group.command("approve")
@click.argument("approval_id")
@_comment
@_principal
@click.pass_obj
def approve(obj: CliContext, approval_id: str, comment: str, principal: str | None) -> None:
    """Approve APPROVAL_ID: the approved call runs now, as its requester."""
    _decide(obj, approval_id, "approve", comment, principal)


@approvals_group.command("reject")
@click.argument("approval_id")
@_comment
@_principal
@click.pass_obj
def reject(obj: CliContext, approval_id: str, comment: str, principal: str | None) -> None:
    """Reject APPROVAL_ID: nothing runs."""
    _decide(obj, approval_id, "reject", comment, principal)
