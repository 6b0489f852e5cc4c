"""Stand-ins for guard unit tests: a ``Call`` around small in-memory services, tenants and
plans, with no store, no tenant data plane and no MCP server behind it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from paybill.server.core.ratelimit import RateLimiter
from paybill.server.core.settings import Settings
from paybill.server.core.slots import Slots
from paybill.server.core.versioned_cache import VersionedCache
from paybill.server.core.vocabulary import Isolation, Role, SubscriptionStatus
from paybill.server.domain.confirmed_reads import SeenVersions
from paybill.server.domain.lifecycle import Lifecycle, load_definition
from paybill.server.guards.call import Call, Caller
from paybill.server.guards.spec import GatedOutput, MutatingInput, Scope, ToolOutput, ToolSpec
from paybill.tools import all_tools

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LIFECYCLE = Lifecycle(load_definition())

ADMIN = Caller("p-admin", "admin", Role.PLATFORM_ADMIN, None)
OPERATOR = Caller("p-ops", "ops", Role.OPERATOR, None)
ACME_ADMIN = Caller("p-acme-admin", "acme-admin", Role.TENANT_ADMIN, "t-acme")
ACME_BOT = Caller("p-acme-bot", "acme-bot", Role.TENANT_AGENT, "t-acme")


class ProbeInput(MutatingInput):
    """Arguments of the probe tool: a tenant slug, and whatever a guard under test reads."""

    tenant: str = "acme"


class ProbeOutput(GatedOutput):
    """The probe's output: gated, so a guard test may switch approvals on."""


def _never_called(call: Call, args: Any) -> ToolOutput:
    raise AssertionError("a guard test never runs the handler")


def spec(**fields: Any) -> ToolSpec:
    """A tenant-scoped probe tool; ``fields`` switch guards on (``data_access=...``)."""
    base = ToolSpec(
        name="probe",
        title="Probe",
        description="A tool for guard tests.",
        input_model=ProbeInput,
        output_model=ProbeOutput,
        handler=_never_called,
        scope=Scope.TENANT,
        tenant_of=lambda call, args: call.tenant,
    )
    return replace(base, **fields)


def shipped(name: str) -> ToolSpec:
    """A tool exactly as Paybill declares it, to test the guards its spec switches on."""
    return next(s for s in all_tools() if s.name == name)


def plan(
    plan_id: str = "free",
    *,
    tier: int = 0,
    features: tuple[str, ...] = ("data.read", "data.write"),
    queries_per_minute: int = 30,
    isolation: Isolation = Isolation.POOLED,
) -> SimpleNamespace:
    return SimpleNamespace(
        id=plan_id,
        tier=tier,
        features=list(features),
        queries_per_minute=queries_per_minute,
        isolation=isolation,
    )


FREE = plan()
PRO = plan(
    "pro", tier=1, features=("data.read", "data.write", "data.sql"), isolation=Isolation.BRIDGE
)
ENTERPRISE = plan("enterprise", tier=2, isolation=Isolation.SILO)


def tenant(
    state: str = "active",
    *,
    on: SimpleNamespace = FREE,
    subscription: SubscriptionStatus | None = SubscriptionStatus.ACTIVE,
    slug: str = "acme",
) -> SimpleNamespace:
    """A tenant as the guards read it: state, plan, isolation and subscription status."""
    sub = None if subscription is None else SimpleNamespace(status=subscription)
    return SimpleNamespace(
        id=f"t-{slug}",
        slug=slug,
        state=state,
        plan=on,
        plan_id=on.id,
        isolation=on.isolation,
        subscription=sub,
    )


class Rows:
    """A session that only answers ``get(Model, key)`` from the objects it was given."""

    def __init__(self, *objects: Any) -> None:
        self._objects = {getattr(o, "id", None): o for o in objects}

    def get(self, model: type, key: Any) -> Any:
        return self._objects.get(key)

    def commit(self) -> None:
        """Nothing to end: the store transaction a call ends before tenant work."""


class GrantedAcl:
    """An ACL that grants exactly ``tools``, in any domain."""

    def __init__(self, tools: set[str]) -> None:
        self.tools = tools

    def allowed(self, principal: str, domain: str, tool: str) -> bool:
        return tool in self.tools


def services(**overrides: Any) -> SimpleNamespace:
    """The collaborators guards use, with generous limits unless a test narrows them."""
    fields: dict[str, Any] = {
        "settings": Settings(database_url="sqlite://", data_dir=Path("/nonexistent")),
        "lifecycle": LIFECYCLE,
        "acl": GrantedAcl(set()),  # grants nothing beyond what a test puts in Call.grants
        "rate_limiter": RateLimiter(1000),
        "tenant_rate": RateLimiter(1000),
        "tenant_slots": Slots(4),
        "engines": SimpleNamespace(postgres=False),
        "clock": lambda: NOW,
        "principals": VersionedCache(),
        "tenants": VersionedCache(),
        "seen_versions": SeenVersions(),
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def make_call(
    tool: ToolSpec | None = None,
    *,
    caller: Caller = ADMIN,
    target: Any = None,
    arguments: dict[str, Any] | None = None,
    session: Any = None,
    services_: Any = None,
    validated: bool = True,
    **fields: Any,
) -> Call:
    """A call in flight past validation and tenant resolution (unless ``validated`` is
    False: then only the raw arguments are set, as before the validate guard)."""
    tool = tool or spec()
    raw = {"tenant": "acme"} if arguments is None else arguments
    call = Call(
        services_ or services(),
        session if session is not None else Rows(),
        tool,
        caller,
        raw,
        registry={tool.name: tool},
        tenant=target,
        tenant_id=getattr(target, "id", None),
        **fields,
    )
    if validated:
        call.arguments = tool.input_model.model_validate(raw)
    return call
