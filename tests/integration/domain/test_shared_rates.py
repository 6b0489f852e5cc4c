"""Token buckets in the store (PostgreSQL): shared by every limiter on it, taken atomically,
refilled by the (injected) clock, swept when idle, and typed when a call is refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from paybill.server.core.errors import QuotaExceeded
from paybill.server.domain.shared_rates import (
    SWEEP_EVERY_SECONDS,
    StoreRateLimiter,
    shared_rates_engine,
)
from paybill.server.store import RateBucket
from paybill.server.store.database import Database

pytestmark = pytest.mark.postgres_only


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engines(db: Database) -> Iterator[list[Engine]]:
    """Two replicas' limiter engines on one store."""
    made = [shared_rates_engine(db.url) for _ in range(2)]
    yield made
    for engine in made:
        engine.dispose()


def _granted(limiter: StoreRateLimiter, key: str, per_minute: int | None = None) -> bool:
    try:
        limiter.take(key, per_minute)
    except QuotaExceeded:
        return False
    return True


def _keys(db: Database) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(RateBucket.key)))


def test_two_replicas_share_one_bucket(engines: list[Engine]) -> None:
    clock = Clock()
    one, two = (StoreRateLimiter(e, 5, "principal", clock) for e in engines)
    taken = [_granted(limiter, "alice") for limiter in (one, two) * 5]
    assert taken == [True] * 5 + [False] * 5
    with pytest.raises(QuotaExceeded) as refused:
        two.take("alice")
    assert refused.value.code == "QUOTA_EXCEEDED"
    # A full minute's worth gone: the next call is one fifth of a minute away.
    assert refused.value.details == {"limit_per_minute": 5, "retry_after_seconds": 12.0}


def test_a_bucket_refills_with_time_and_never_beyond_its_rate(engines: list[Engine]) -> None:
    clock = Clock()
    one, two = (StoreRateLimiter(e, 6, "principal", clock) for e in engines)
    assert all(_granted(one, "bob") for _ in range(6))
    assert not _granted(two, "bob")
    clock.now += 10  # a sixth of a minute: one call
    assert _granted(two, "bob")
    assert not _granted(one, "bob")
    clock.now += 3600  # an idle hour refills the bucket, no more
    assert [_granted(one, "bob") for _ in range(7)] == [True] * 6 + [False]


def test_keys_and_scopes_have_buckets_of_their_own(engines: list[Engine], db: Database) -> None:
    clock = Clock()
    principals = StoreRateLimiter(engines[0], 1, "principal", clock)
    tenants = StoreRateLimiter(engines[1], 1, "tenant", clock)
    assert _granted(principals, "x") and _granted(tenants, "x") and _granted(principals, "y")
    assert not _granted(principals, "x") and not _granted(tenants, "x")
    assert _keys(db) == {"principal/x", "principal/y", "tenant/x"}


def test_the_rate_of_the_call_caps_the_bucket(engines: list[Engine]) -> None:
    """A plan downgraded from 300 to 2 queries a minute: what was left of 300 is cut to 2."""
    clock = Clock()
    tenants = StoreRateLimiter(engines[0], 1000, "tenant", clock)
    assert _granted(tenants, "t", 300)
    assert [_granted(tenants, "t", 2) for _ in range(3)] == [True, True, False]


def test_concurrent_takes_from_two_replicas_grant_exactly_the_rate(
    engines: list[Engine],
) -> None:
    clock = Clock()
    limiters = [StoreRateLimiter(e, 10, "principal", clock) for e in engines]
    results: list[bool] = []
    start = threading.Barrier(20)

    def take(limiter: StoreRateLimiter) -> None:
        start.wait()
        results.append(_granted(limiter, "crowd"))

    threads = [threading.Thread(target=take, args=(limiters[i % 2],)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 10 + [True] * 10


def test_the_database_clock_when_none_is_injected(engines: list[Engine]) -> None:
    limiter = StoreRateLimiter(engines[0], 1, "principal")
    assert _granted(limiter, "carol")
    with pytest.raises(QuotaExceeded) as refused:
        limiter.take("carol")
    # Bounds, not timing: one call a minute is at most a minute away.
    assert 0 < refused.value.details["retry_after_seconds"] <= 60


def test_idle_rows_are_swept_in_a_take_about_once_a_minute(
    engines: list[Engine], db: Database
) -> None:
    clock = Clock()
    limiter = StoreRateLimiter(engines[0], 5, "principal", clock)
    assert _granted(limiter, "idle") and _granted(limiter, "busy")
    clock.now += 30  # no sweep due yet in this process
    assert _granted(limiter, "busy")
    assert _keys(db) == {"principal/idle", "principal/busy"}
    clock.now += SWEEP_EVERY_SECONDS - 29  # due: "idle" is a minute old, "busy" is not
    assert _granted(limiter, "fresh")
    assert _keys(db) == {"principal/busy", "principal/fresh"}
    # A swept bucket was full: its key starts again with the whole rate.
    assert [_granted(limiter, "idle") for _ in range(6)] == [True] * 5 + [False]


@pytest.mark.parametrize(
    "key",
    ["", "x" * 10_000, "robert'); DROP TABLE rate_buckets; --", "名前/\x01\\%_"],
)
def test_any_key_is_a_key(engines: list[Engine], db: Database, key: str) -> None:
    limiter = StoreRateLimiter(engines[0], 1, "principal", Clock())
    assert _granted(limiter, key) and not _granted(limiter, key)
    assert _keys(db) == {f"principal/{key}"}


def test_huge_rates_do_not_overflow_and_bad_rates_are_refused(engines: list[Engine]) -> None:
    clock = Clock()
    limiter = StoreRateLimiter(engines[0], 2**63, "tenant", clock)
    assert _granted(limiter, "big") and _granted(limiter, "big", 10**30)
    clock.now += 1e12
    assert _granted(limiter, "big")
    for bad in (0, -5):
        with pytest.raises(ValueError, match="at least 1 call per minute"):
            StoreRateLimiter(engines[0], bad, "tenant", clock).take("bad")
