"""Arguments against the tool's input model: unknown or malformed arguments are refused."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from paybill.server.core.errors import InvalidInput
from paybill.server.guards.call import Call
from paybill.server.guards.spec import ToolSpec


def parse_arguments(spec: ToolSpec, raw: dict[str, Any]) -> Any:
    """Raises: InvalidInput naming each bad field (never echoing the values)."""
    try:
        return spec.input_model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(arguments)", "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        raise InvalidInput(
            f"Invalid arguments for {spec.name}: {listed}. Nothing was changed.",
            problems=problems,
        ) from None


def validate(call: Call) -> None:
    """Raises: InvalidInput."""
    call.arguments = parse_arguments(call.spec, call.raw_arguments)
