"""How a tool declares itself to the pipeline: models, scope, and which guards apply to it.

A handler only acts: every check of state, quota, billing standing or approval is a guard in
the pipeline, switched on by the declarative fields of the tool's ``ToolSpec``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from paybill.server.domain.effects import Effect
    from paybill.server.guards.call import Call
    from paybill.server.store import Approval, Tenant
    from paybill.server.workflows.engine.services import Services


class Scope(StrEnum):
    """Which Casbin domain a call is checked in."""

    PLATFORM = "platform"  # the "*" domain: only platform-wide roles
    TENANT = "tenant"  # the target tenant's domain, resolved by ``ToolSpec.tenant_of``
    CALLER = "caller"  # the caller's own tenant, or "*" for platform-wide roles


_CONTROL = {chr(c) for c in range(32)} - {"\t", "\n", "\r"}


def _has_control_characters(value: Any) -> bool:
    if isinstance(value, str):
        return any(ch in _CONTROL for ch in value)
    if isinstance(value, dict):
        return any(
            _has_control_characters(k) or _has_control_characters(v) for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(_has_control_characters(v) for v in value)
    return False


class ToolInput(BaseModel):
    """Base of every tool input: unknown arguments are an error, never silently dropped, and
    no string may carry NUL or other control characters (backends disagree about them)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        if _has_control_characters(data):
            raise ValueError("strings may not contain NUL or other control characters")
        return data


class MutatingInput(ToolInput):
    """Inputs of tools that change state: idempotent replays and dry runs."""

    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Same key + same arguments returns the first result with no second effect; "
        "same key + other arguments fails with CONFLICT.",
    )
    dry_run: bool = Field(
        default=False,
        description="Validate and return the plan of what would happen; change nothing.",
    )

    def may_change_state(self) -> bool:
        """Whether the call may change state, as its arguments tell before any guard runs; a
        tool whose arguments show a read (run_sql's SELECT) says so. Only decides what the
        call loads (``tenant_cache``): every guard still runs."""
        return True


class ToolOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")


Handler = Callable[["Call", Any], ToolOutput]
TenantResolver = Callable[["Call", Any], "Tenant | None"]


@dataclass(frozen=True)
class ApprovalRule:
    """Why a call needs an approval: the rule's name (``bulk_change``) and, in words, what
    about this call made it apply."""

    rule: str
    reason: str


# A rule when the call must wait for an approval ("ask first": raw DML, bulk deletes), None
# when it may run. The predicates live with the approval guard (``guards.approval``), never
# in a tool module.
ApprovalPredicate = Callable[["Call"], ApprovalRule | None]


class EffectSource(Protocol):
    """How a gated tool's effect is derived from what would run, and checked again before
    the approved call runs (``domain.effects``)."""

    def derive(self, call: Call, *, preview: bool) -> Effect:
        """The effect of ``call`` as it would run now. ``preview`` (a dry run): nothing is
        kept for a later execution (a saved plan is not stored)."""
        ...

    def drift(self, call: Call, approval: Approval) -> str | None:
        """Why ``approval``'s effect no longer holds for ``call`` (which is executing it),
        in words; None when what would run is still exactly what was approved."""
        ...


class EffectOut(BaseModel):
    """An effect as an approver sees it (``domain.effects``)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="sql_write, isolation_move, offboarding or call.")
    summary: str
    tenant: dict[str, Any] | None
    details: dict[str, Any] = Field(description="Per kind; see docs/approvals.md.")
    sha256: str = Field(description="SHA-256 of the effect's canonical JSON; binds approvals.")


class ApprovalNeedOut(BaseModel):
    """What a dry run of a gated tool says about the approval the real call needs."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(description="The rule that asks for an approval (e.g. bulk_change).")
    reason: str = Field(description="What about this call made the rule apply.")
    effect: EffectOut = Field(description="The effect an approver would see and approve.")


class GatedOutput(ToolOutput):
    """Output of a tool that may need an approval: its dry run says whether and why."""

    approval_required: bool | None = Field(
        default=None,
        description="Dry runs only: true when the real call would wait for an approval "
        "(APPROVAL_REQUIRED); null for calls that ran.",
    )
    approval: ApprovalNeedOut | None = Field(
        default=None,
        description="Dry runs that need an approval: the rule, why, and the effect the "
        "approver will see.",
    )


# What the call does that needs a subscription in good standing ("upgrade"), worded for the
# refusal, or None when this call needs no admission (``guards.billing`` has the gates).
BillingGate = Callable[["Call"], "str | None"]

DataMode = Literal["read", "write"]
Surface = Literal["mcp", "console"]
# What a successful call may do to state (the MCP annotations say it to clients): nothing;
# only add (new rows, runs, approvals); or change and remove what exists.
Writes = Literal["nothing", "additions", "changes"]
CONSOLE_ONLY: frozenset[Surface] = frozenset({"console"})


@dataclass(frozen=True)
class DataAccess:
    """What a call does to the tenant's rows. The lifecycle guard refuses it in a state that
    does not serve that (a suspended tenant serves nothing, an archived one only reads) and
    the quota guard counts it against the plan's queries per minute."""

    # "statement": read or write, as the call's SQL statement does (the sql guard validates
    # the statement first and says which).
    mode: Literal["read", "write", "statement"]
    # What the call's dry run does: None when it touches no rows (no gate, no quota).
    dry_run: DataMode | None


@dataclass(frozen=True)
class Poll:
    """One look at something a call is waiting for: the payload to send, whether the wait is
    over, and the progress to report (done, total, message)."""

    payload: dict[str, Any]
    done: bool
    progress: tuple[float, float | None, str]


# After a successful call, looks again (outside any transaction) at what the call is waiting
# for (get_workflow's wait_seconds). The MCP layer polls it on the event loop, so a waiting
# client holds no worker thread.
# It gets the calling principal's name: what a look shows may depend on the caller's role.
Poller = Callable[["Services", Any, "str | None"], Poll]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the guard pipeline sees it. Tools exist only as specs run by the pipeline."""

    name: str
    title: str
    description: str
    input_model: type[ToolInput]
    output_model: type[ToolOutput]
    handler: Handler
    scope: Scope
    tenant_of: TenantResolver | None = None
    lifecycle_action: str | None = None  # the lifecycle guard refuses it in the wrong state
    requires_approval: bool = False  # the approval guard turns the call into a pending approval
    feature: str | None = None  # plan entitlement a tenant-scoped caller needs
    executes_approved: bool = False  # runs actions that others marked destructive
    approval_when: ApprovalPredicate | None = None
    # What an approval of this tool binds; None: the call itself (tool, arguments, tenant).
    effect: EffectSource | None = None
    data_access: DataAccess | None = None  # tenant rows: lifecycle data states and the quota
    billing_gate: BillingGate | None = None  # admission by subscription status
    retries_run: bool = False  # the retry guard admits only a tenant's latest failed run
    # The handler itself is a gate (decide_approval: the four-eyes rule, expiry, the plan
    # hash): its refusals are audited as denied, not as an allowed call that failed.
    refusals_denied: bool = False
    # Checks the arguments against the tenant's schema before any data gate, so bad values
    # are INVALID_INPUT whatever the tenant's state or quota; what it returns is ``prepared``.
    prepare: Callable[[Call, Any], Any] | None = None
    poll: Poller | None = None
    wait_seconds: Callable[[Any], float] | None = None  # how long the caller asked to wait
    # Where the tool is offered: console-only tools (principal management) are neither listed
    # nor dispatched by the MCP adapter, so an agent cannot reach them at all.
    surfaces: frozenset[Surface] = frozenset({"mcp", "console"})
    # None: "nothing" for a read input, "changes" for a mutating one. Declaring "additions"
    # (MCP destructiveHint false) is a claim tests/integration/tools/test_annotations.py
    # checks against what the tool really does, like ``repeatable``.
    writes: Writes | None = None
    # A second identical call (same arguments, no idempotency key) changes nothing more: it
    # is refused or finds its work done (MCP idempotentHint).
    repeatable: bool = True

    def __post_init__(self) -> None:
        # The data guards gate the call's tenant, so the tool must name one.
        if self.data_access is not None and (
            self.scope is not Scope.TENANT or self.tenant_of is None
        ):
            raise ValueError(f"{self.name}: data_access needs a tenant-scoped tool")
        # A gated tool's dry run must be able to say that (and why) it needs an approval.
        if self.gated and not issubclass(self.output_model, GatedOutput):
            raise ValueError(f"{self.name}: a gated tool's output must be a GatedOutput")
        if self.mutating and self.writes == "nothing":
            raise ValueError(f"{self.name}: a mutating input cannot write nothing")
        if (self.gated or self.executes_approved) and self.effect_on_state != "changes":
            raise ValueError(f"{self.name}: what needs an approval changes state")

    @property
    def gated(self) -> bool:
        """Some calls of this tool wait for an approval."""
        return self.requires_approval or self.approval_when is not None

    @property
    def runs_sql(self) -> bool:
        """The sql guard validates ``arguments.sql`` before anything runs."""
        return self.data_access is not None and self.data_access.mode == "statement"

    @property
    def effect_on_state(self) -> Writes:
        if self.writes is not None:
            return self.writes
        return "changes" if self.mutating else "nothing"

    @property
    def destructive(self) -> bool:
        """May change or remove existing state (not only add): MCP's destructiveHint."""
        return self.effect_on_state == "changes"

    @property
    def mutating(self) -> bool:
        return issubclass(self.input_model, MutatingInput)

    @property
    def read_only(self) -> bool:
        return self.effect_on_state == "nothing"
