"""Principal management for the operator console: list, disable, rotate a key.

Console-only (``surfaces``): the MCP adapter neither lists nor dispatches these tools, so an
agent cannot disable a principal or mint a key; a platform admin does it in the console.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from paybill.server.core.errors import InvalidInput
from paybill.server.core.vocabulary import PRINCIPAL_NAME_PATTERN
from paybill.server.domain import principals
from paybill.server.guards.call import Call
from paybill.server.guards.spec import (
    CONSOLE_ONLY,
    MutatingInput,
    Scope,
    ToolInput,
    ToolOutput,
    ToolSpec,
)
from paybill.server.store import Principal
from paybill.tools.models import RecordOut

NAME = Field(pattern=PRINCIPAL_NAME_PATTERN, max_length=100, description="Principal name.")


class ApiKeyOut(RecordOut):
    prefix: str = Field(description="The key's public prefix; the secret is never stored.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class PrincipalOut(RecordOut):
    name: str
    role: str
    tenant_id: str | None
    disabled: bool
    created_at: datetime
    api_keys: list[ApiKeyOut]

    @classmethod
    def of(cls, principal: Principal) -> PrincipalOut:
        return cls.model_validate(principal)


class ListPrincipalsInput(ToolInput):
    pass


class ListPrincipalsOutput(ToolOutput):
    principals: list[PrincipalOut]


def list_principals(call: Call, args: ListPrincipalsInput) -> ListPrincipalsOutput:
    found = principals.list_principals(call.session)
    return ListPrincipalsOutput(principals=[PrincipalOut.of(p) for p in found])


class PrincipalRef(MutatingInput):
    name: str = NAME


class DisablePrincipalOutput(ToolOutput):
    principal: PrincipalOut
    dry_run: bool


def _not_self(call: Call, name: str, what: str) -> None:
    if name == call.caller.name:
        raise InvalidInput(
            f"You cannot {what} your own principal from your own session; ask another "
            "platform admin.",
            name=name,
        )


def disable_principal(call: Call, args: PrincipalRef) -> DisablePrincipalOutput:
    _not_self(call, args.name, "disable")
    if call.dry_run:
        with call.session.begin_nested() as preview:
            out = PrincipalOut.of(principals.disable_principal(call.session, args.name))
            preview.rollback()
        return DisablePrincipalOutput(principal=out, dry_run=True)
    principal = principals.disable_principal(call.session, args.name)
    return DisablePrincipalOutput(principal=PrincipalOut.of(principal), dry_run=False)


class RotateKeyInput(ToolInput):
    # No idempotency key: a replay would store the new key's plaintext with the result.
    name: str = NAME


class RotateKeyOutput(ToolOutput):
    principal: PrincipalOut
    api_key: str | None = Field(
        description="Your own new key, shown once (never stored or shown again); null when "
        "another principal's keys were revoked: its new key is issued out of band."
    )


def rotate_principal_key(call: Call, args: RotateKeyInput) -> RotateKeyOutput:
    """Your own key: revoked and a new one shown once. Another principal's: its keys are
    revoked and no key is shown. A key shown to another human would let them act as its
    principal, and so decide approvals they requested themselves (four-eyes); an operator
    with store access issues it (`paybill principal rotate-key NAME`) and hands it over."""
    if args.name != call.caller.name:
        principal = principals.revoke_keys(call.session, args.name)
        return RotateKeyOutput(principal=PrincipalOut.of(principal), api_key=None)
    key = principals.rotate_key(call.session, args.name)
    principal = principals.get_principal(call.session, args.name)
    return RotateKeyOutput(principal=PrincipalOut.of(principal), api_key=key.plaintext)


TOOLS = [
    ToolSpec(
        name="list_principals",
        title="List principals",
        description="Every principal with its role, tenant, state and key prefixes.",
        input_model=ListPrincipalsInput,
        output_model=ListPrincipalsOutput,
        handler=list_principals,
        scope=Scope.PLATFORM,
        surfaces=CONSOLE_ONLY,
    ),
    ToolSpec(
        name="disable_principal",
        title="Disable principal",
        description="Disable a principal and revoke its keys; its console sessions end.",
        input_model=PrincipalRef,
        output_model=DisablePrincipalOutput,
        handler=disable_principal,
        scope=Scope.PLATFORM,
        surfaces=CONSOLE_ONLY,
    ),
    ToolSpec(
        name="rotate_principal_key",
        writes="changes",  # revokes the keys in use
        repeatable=False,  # each call issues another key
        title="Rotate principal key",
        description="Revoke a principal's keys; for your own principal, issue a new key shown "
        "once (another principal's new key is issued out of band, never shown here).",
        input_model=RotateKeyInput,
        output_model=RotateKeyOutput,
        handler=rotate_principal_key,
        scope=Scope.PLATFORM,
        surfaces=CONSOLE_ONLY,
    ),
]
