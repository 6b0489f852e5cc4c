"""Agent scenarios as data: who acts, what the store holds first, the task, the store check.

A scenario is a YAML file (``evals/agent/scenarios/<id>.yaml`` ships with the package);
its ``seed`` is the transcript format's seed, so a recorded run replays on the same store.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from paybill.evals.transcript import Header, Seed
from paybill.server.core.vocabulary import PRINCIPAL_NAME_PATTERN, SLUG_PATTERN, Role
from paybill.server.store import Tenant
from paybill.server.store.database import Database


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Strict):
    """Bounds on one run: a run that reaches one stops with a status naming it."""

    max_turns: int = Field(default=12, ge=1, le=100, description="Messages API calls.")
    max_total_tokens: int = Field(
        default=200_000, ge=1, description="Input plus output tokens over the whole run."
    )
    max_tokens_per_turn: int = Field(default=4096, ge=1, le=64_000)


class TenantCheck(_Strict):
    """What one tenant must look like in the store when the run ends."""

    slug: str = Field(pattern=SLUG_PATTERN)
    exists: bool = True
    state: str | None = None
    plan: str | None = None


class StoreCheck(_Strict):
    tenants: list[TenantCheck] = Field(default_factory=list)

    def failures(self, database_url: str) -> list[str]:
        """Every way the store departs from the check (empty: the check passes)."""
        db = Database(database_url)
        try:
            with db.session() as session:
                found = {
                    t.slug: t
                    for t in session.scalars(
                        select(Tenant).where(Tenant.slug.in_([c.slug for c in self.tenants]))
                    )
                }
                return [f for check in self.tenants for f in _tenant_failures(check, found)]
        finally:
            db.dispose()


def _tenant_failures(check: TenantCheck, found: dict[str, Tenant]) -> list[str]:
    tenant = found.get(check.slug)
    if tenant is None:
        return [f"tenant {check.slug} does not exist"] if check.exists else []
    if not check.exists:
        return [f"tenant {check.slug} exists (state {tenant.state})"]
    wrong = []
    if check.state is not None and tenant.state != check.state:
        wrong.append(f"tenant {check.slug} is {tenant.state}, expected {check.state}")
    if check.plan is not None and tenant.plan_id != check.plan:
        wrong.append(f"tenant {check.slug} is on plan {tenant.plan_id}, expected {check.plan}")
    return wrong


class Scenario(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,80}$")
    description: str = ""
    principal: str = Field(pattern=PRINCIPAL_NAME_PATTERN)
    role: Role
    tenant: str | None = Field(default=None, description="The tenant the scenario is about.")
    seed: Seed = Field(default_factory=Seed)
    task: str = Field(min_length=1, description="The user's request to the agent.")
    limits: Limits = Field(default_factory=Limits)
    check: StoreCheck = Field(default_factory=StoreCheck)

    def header(self) -> Header:
        """The transcript header of a run of this scenario."""
        return Header(
            scenario=self.id,
            description=self.description,
            principal=self.principal,
            role=self.role,
            tenant=self.tenant,
            seed=self.seed,
        )


class ScenarioError(ValueError):
    """A scenario that cannot be found or does not follow the format."""


def packaged() -> dict[str, str]:
    """Scenario id -> YAML text of the scenarios shipped with the package."""
    folder = resources.files("paybill.evals.agent") / "scenarios"
    return {
        f.name.removesuffix(".yaml"): f.read_text(encoding="utf-8")
        for f in folder.iterdir()
        if f.name.endswith(".yaml")
    }


def load(name: str) -> Scenario:
    """A packaged scenario by id, or a scenario file by path.

    Raises:
        ScenarioError: no such scenario, or the file is not a valid scenario.
    """
    shipped = packaged()
    path = Path(name)
    if name in shipped:
        text, source = shipped[name], f"scenario {name}"
    elif path.is_file():
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        known = ", ".join(sorted(shipped)) or "none"
        raise ScenarioError(f"no scenario {name!r}: give a file or one of: {known}")
    try:
        return Scenario.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ScenarioError(f"{source}: {exc}") from None
