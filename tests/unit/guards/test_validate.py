"""Validate guard: arguments against the tool's input model, naming every bad field."""

from __future__ import annotations

import pytest

from paybill.server.core.errors import InvalidInput
from paybill.server.guards.validate import validate
from tests.support.guard_calls import make_call, shipped


@pytest.mark.parametrize(
    ("situation", "arguments", "expected"),
    [
        ("valid", {"tenant": "acme", "reason": "maintenance"}, None),
        ("explicit defaults", {"tenant": "acme", "reason": "x" * 3, "dry_run": False}, None),
        ("unknown argument", {"tenant": "acme", "reason": "why?", "force": True}, "force"),
        ("missing argument", {"tenant": "acme"}, "reason"),
        ("wrong type", {"tenant": "acme", "reason": "why?", "dry_run": "perhaps"}, "dry_run"),
        ("control character", {"tenant": "acme", "reason": "why\x00"}, "(arguments)"),
        (
            "malformed key",
            {"tenant": "acme", "reason": "why?", "idempotency_key": "a b"},
            "idempotency_key",
        ),
    ],
)
def test_validate(situation: str, arguments: dict, expected: str | None) -> None:
    call = make_call(shipped("suspend_tenant"), arguments=arguments, validated=False)
    if expected is None:
        validate(call)
        assert call.arguments.tenant == "acme"
        return
    with pytest.raises(InvalidInput) as refused:
        validate(call)
    fields = [p["field"] for p in refused.value.details["problems"]]
    assert expected in fields, situation
    assert "Nothing was changed" in refused.value.message
    # The refusal names fields, never the values sent.
    assert "why\x00" not in refused.value.message
