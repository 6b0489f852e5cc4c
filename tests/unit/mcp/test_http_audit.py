"""The budget of refused HTTP requests that go on record: per client and in total per
minute, with the rest counted for one summary event."""

from __future__ import annotations

from paybill.server.mcp.http_audit import RefusalBudget, key_digest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_client_is_bounded_and_the_dropped_are_summarised_once() -> None:
    clock = Clock()
    budget = RefusalBudget(per_client=3, total=100, clock=clock)
    assert [budget.admit("10.0.0.1") for _ in range(5)] == [(True, 0)] * 3 + [(False, 0)] * 2
    assert budget.admit("10.0.0.2") == (True, 0)  # another client has its own share
    clock.now += 60
    assert budget.admit("10.0.0.1") == (True, 2)  # a new minute: the 2 dropped, summarised
    assert budget.admit("10.0.0.1") == (True, 0)  # ...once


def test_all_clients_together_are_bounded() -> None:
    budget = RefusalBudget(per_client=10, total=4, clock=Clock())
    admitted = [budget.admit(f"10.0.0.{i}")[0] for i in range(50)]
    assert admitted.count(True) == 4


def test_a_key_is_recorded_as_a_digest_only() -> None:
    key = "pb_AAAAAAAAAAAA_" + "B" * 43
    digest = key_digest(key)
    assert digest is not None and len(digest) == 16
    assert key[:8] not in digest
    assert key_digest("") is None
