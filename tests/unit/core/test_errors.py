"""The error tree: every public code exists once, and payloads have the documented shape."""

from __future__ import annotations

import pytest

from paybill.server.core import errors

DOCUMENTED = {
    "UNAUTHENTICATED",
    "DENIED",
    "NOT_FOUND",
    "INVALID_INPUT",
    "INVALID_TRANSITION",
    "SQL_REJECTED",
    "QUOTA_EXCEEDED",
    "BILLING_BLOCKED",
    "APPROVAL_REQUIRED",
    "CONFLICT",
    "PROVISIONING_FAILED",
    "INTERNAL",
}


def test_codes_match_the_architecture() -> None:
    assert set(errors.ERROR_CODES) == DOCUMENTED
    assert len(errors.ERROR_CODES) == len(DOCUMENTED)


def test_every_code_is_documented_in_the_module_docstring() -> None:
    for code in DOCUMENTED:
        assert code in errors.__doc__


@pytest.mark.parametrize("cls", errors.PaybillError.__subclasses__())
def test_payload_shape(cls: type[errors.PaybillError]) -> None:
    error = (
        cls(tenant="t", state="s", action="a", allowed=[])
        if cls is errors.InvalidTransition
        else cls()
        if cls is errors.InternalError
        else cls("msg", k=1)
    )
    payload = error.to_payload()
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "message", "details"}
    assert payload["error"]["code"] == cls.code


def test_internal_error_says_nothing_internal() -> None:
    payload = errors.InternalError("ref-123").to_payload()["error"]
    assert payload["details"] == {"reference": "ref-123"}
    assert "Traceback" not in payload["message"]
