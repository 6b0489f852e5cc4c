"""What one agent run produced: its status, usage, tool calls and the store check."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class RunStatus(StrEnum):
    COMPLETED = "completed"  # the model ended its turn
    MAX_TURNS = "max_turns"  # still calling tools when the turn limit was reached
    TOKEN_BUDGET = "token_budget"  # noqa: S105  (a status, not a secret)
    STOPPED = "stopped"  # another stop reason (max_tokens, refusal...)
    API_ERROR = "api_error"  # the Messages API refused or failed


class ToolCall(BaseModel):
    """One tool_use block the runner sent to the MCP server, with its outcome."""

    turn: int
    tool: str
    arguments: dict[str, Any]
    is_error: bool
    code: str | None = Field(default=None, description="Paybill error code when refused.")
    result: dict[str, Any] | None = Field(default=None, description="Structured content.")


class AgentRun(BaseModel):
    scenario: str
    model: str
    status: RunStatus
    detail: str = Field(default="", description="Why the run stopped, for people.")
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    calls: list[ToolCall] = Field(default_factory=list)
    unknown_tools: list[str] = Field(
        default_factory=list, description="Tools the model asked for that the server lacks."
    )
    final_text: str = ""
    check_failures: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        """The model finished and the store is what the scenario expects."""
        return self.status is RunStatus.COMPLETED and not self.check_failures
