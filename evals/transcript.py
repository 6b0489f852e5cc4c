"""The transcript format: one JSON object a line, a header then steps (see evals/README.md).

The agent runner records transcripts with these models and ``paybill eval replay`` reads
them back, so both sides share one definition of the format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from paybill.server.core.vocabulary import (
    PRINCIPAL_NAME_PATTERN,
    SLUG_PATTERN,
    Role,
    SubscriptionStatus,
)

TENANT_TABLE = r"^(customers|invoices|usage_events|support_tickets)$"
# Settings a transcript may override for its server (everything else is the harness's).
SettingName = Literal[
    "rate_per_minute",
    "max_argument_bytes",
    "max_result_rows",
    "bulk_threshold",
    "approval_ttl_seconds",
    "statement_timeout_ms",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeedPrincipal(_Strict):
    name: str = Field(pattern=PRINCIPAL_NAME_PATTERN)
    role: Role
    tenant: str | None = Field(default=None, description="Slug; tenant-scoped roles only.")


class SeedTenant(_Strict):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str
    plan: str
    onboard_plan: str | None = Field(
        default=None,
        description="Create the tenant on this plan, then upgrade to `plan` (its storage keeps "
        "the onboarding plan's isolation): a pro tenant on pooled storage for SQLite stores.",
    )
    state: Literal["active", "suspended"] = "active"
    subscription_status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    rows: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="Table name -> rows, inserted by a platform admin."
    )


class Seed(_Strict):
    principals: list[SeedPrincipal] = Field(default_factory=list)
    tenants: list[SeedTenant] = Field(default_factory=list)
    clock: str | None = Field(
        default=None,
        description="ISO 8601 time seeded tenants are created at (subscription periods); "
        "the server itself runs on real time.",
    )


class Header(_Strict):
    scenario: str = Field(pattern=r"^[a-z0-9_]{1,80}$")
    description: str = ""
    principal: str = Field(pattern=PRINCIPAL_NAME_PATTERN)
    role: Role
    tenant: str | None = Field(default=None, description="The tenant the scenario is about.")
    backend: Literal["sqlite", "postgresql"] = "sqlite"
    settings: dict[SettingName, int] = Field(default_factory=dict)
    seed: Seed = Field(default_factory=Seed)


class Expect(_Strict):
    is_error: bool = False
    code: str | None = Field(default=None, description="error.code when is_error.")
    match: dict[str, Any] | None = Field(
        default=None, description="Subset of the structured result, with placeholders."
    )


class Step(_Strict):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    as_: str | None = Field(default=None, alias="as", description="Principal; header's if unset.")
    expect: Expect = Field(default_factory=Expect)
    capture: dict[str, str] = Field(
        default_factory=dict, description="name -> dotted path into the structured result."
    )
    note: str | None = Field(default=None, description="Why the step is there (attack class).")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Transcript(BaseModel):
    header: Header
    steps: list[Step]
    path: Path | None = None
    lines: list[int] = Field(default_factory=list, description="File line of each step.")

    def principals(self) -> list[str]:
        """Every principal the steps act as, in order of first use."""
        names = [s.as_ or self.header.principal for s in self.steps]
        return list(dict.fromkeys(names))


class TranscriptError(ValueError):
    """A transcript file that does not follow the format; names the file and line."""


def parse(text: str, source: str = "<transcript>") -> Transcript:
    """Parse JSONL text. Raises: TranscriptError naming the line that is wrong."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise TranscriptError(f"{source}: empty transcript")
    try:
        header = Header.model_validate(_json(source, *lines[0]))
        steps = [Step.model_validate(_json(source, n, line)) for n, line in lines[1:]]
    except ValidationError as exc:
        raise TranscriptError(f"{source}: {exc}") from None
    return Transcript(header=header, steps=steps, lines=[n for n, _ in lines[1:]])


def _json(source: str, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{source}:{number}: not JSON: {exc.msg}") from None


def load(path: Path) -> Transcript:
    transcript = parse(path.read_text(encoding="utf-8"), str(path))
    transcript.path = path
    return transcript


def dumps(header: Header, steps: list[Step]) -> str:
    """The JSONL text of a transcript (what the agent runner writes)."""
    lines = [header.model_dump(mode="json", exclude_defaults=True)]
    lines += [s.model_dump(mode="json", by_alias=True, exclude_defaults=True) for s in steps]
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
