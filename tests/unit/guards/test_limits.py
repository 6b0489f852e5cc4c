"""Limits guard: argument size and calls per minute per principal."""

from __future__ import annotations

import pytest

from paybill.server.core.errors import PaybillError
from paybill.server.core.ratelimit import RateLimiter
from paybill.server.guards.limits import check_limits
from tests.support.guard_calls import OPERATOR, make_call, services


@pytest.mark.parametrize(
    ("situation", "arguments", "calls_left", "expected"),
    [
        ("small arguments, calls left", {"tenant": "acme"}, 5, None),
        ("arguments at the limit", {"tenant": "a" * 86}, 5, None),
        ("arguments over the limit", {"tenant": "a" * 87}, 5, "INVALID_INPUT"),
        ("no call left this minute", {"tenant": "acme"}, 0, "QUOTA_EXCEEDED"),
        ("size is checked before the rate", {"tenant": "a" * 87}, 0, "INVALID_INPUT"),
    ],
)
def test_limits(situation: str, arguments: dict, calls_left: int, expected: str | None) -> None:
    limiter = RateLimiter(60, clock=lambda: 0.0)
    for _ in range(60 - calls_left):
        limiter.take(OPERATOR.name)
    settings = services().settings.model_copy(update={"max_argument_bytes": 100})
    call = make_call(
        caller=OPERATOR,
        arguments=arguments,
        validated=False,
        services_=services(settings=settings, rate_limiter=limiter),
    )
    if expected is None:
        check_limits(call)
        return
    with pytest.raises(PaybillError) as refused:
        check_limits(call)
    assert refused.value.code == expected, situation


def test_the_rate_is_per_principal() -> None:
    limiter = RateLimiter(1, clock=lambda: 0.0)
    limiter.take("someone-else")
    check_limits(make_call(caller=OPERATOR, services_=services(rate_limiter=limiter)))
