"""Two replicas (services and pipelines of their own) on one store: on PostgreSQL they take
from the same rate buckets, per principal and per tenant; on SQLite each keeps its own, as
before (docs/replicas.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from paybill.server.app import build_pipeline, build_services
from paybill.server.core.errors import QuotaExceeded
from paybill.server.core.ratelimit import RateLimiter
from paybill.server.domain.shared_rates import StoreRateLimiter, alongside, shared_rates_engine
from paybill.server.guards.pipeline import Pipeline
from paybill.server.store import Plan
from tests.support import serving
from tests.support.served import Served, close

RATE = 3


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on: a store there refuses every connection."""
    return serving.free_port()


SHARED = {"postgresql": True, "sqlite": False}


@pytest.fixture
def replicas(served: Served, request: pytest.FixtureRequest) -> Iterator[list[Pipeline]]:
    """Two replicas with a principal rate of ``RATE`` a minute and a stopped rate clock (on
    a busy machine a bucket would otherwise refill while the calls run)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings = served.services.settings.model_copy(update={"rate_per_minute": RATE, **overrides})
    services = [build_services(settings, rate_clock=lambda: 0.0) for _ in range(2)]
    yield [build_pipeline(s) for s in services]
    for s in services:
        close(s)


def _round_robin(replicas: list[Pipeline], calls: int, tool: str, principal: str, **raw: Any):
    return [replicas[i % 2].call(tool, principal, raw) for i in range(calls)]


def _codes(outcomes: list[Any]) -> list[str]:
    return [o.payload["error"]["code"] if o.is_error else "ok" for o in outcomes]


def test_the_principals_rate_holds_across_replicas(replicas: list[Pipeline], backend: str) -> None:
    outcomes = _round_robin(replicas, 2 * RATE + 1, "list_plans", "ops")
    allowed = RATE if SHARED[backend] else 2 * RATE  # SQLite: each process its own bucket
    assert _codes(outcomes) == ["ok"] * allowed + ["QUOTA_EXCEEDED"] * (2 * RATE + 1 - allowed)
    refused = outcomes[-1].payload["error"]
    assert refused["details"] == {"limit_per_minute": RATE, "retry_after_seconds": 20.0}


def test_the_tenants_plan_rate_holds_across_replicas(
    served: Served, replicas: list[Pipeline], backend: str
) -> None:
    with served.services.db.session() as session:
        session.execute(update(Plan).where(Plan.id == "free").values(queries_per_minute=2))
    for pipeline in replicas:  # the principal's own rate is not what this test is about
        pipeline.services.rate_limiter.per_minute = 1000
    outcomes = _round_robin(
        replicas, 5, "query_table", "acme-bot", tenant="acme", table="customers"
    )
    allowed = 2 if SHARED[backend] else 4
    assert _codes(outcomes) == ["ok"] * allowed + ["QUOTA_EXCEEDED"] * (5 - allowed)
    assert outcomes[-1].payload["error"]["details"]["limit_per_minute"] == 2


def test_which_buckets_a_store_keeps(replicas: list[Pipeline], backend: str) -> None:
    services = replicas[0].services
    kind = StoreRateLimiter if SHARED[backend] else RateLimiter
    assert isinstance(services.rate_limiter, kind) and isinstance(services.tenant_rate, kind)


@pytest.mark.postgres_only
@pytest.mark.parametrize("replicas", [{"shared_rate_limits": False}], indirect=True)
def test_shared_buckets_can_be_turned_off(replicas: list[Pipeline]) -> None:
    services = replicas[0].services
    assert isinstance(services.rate_limiter, RateLimiter)
    outcomes = _round_robin(replicas, 2 * RATE, "list_plans", "ops")
    assert _codes(outcomes) == ["ok"] * 2 * RATE


def test_console_logins_are_limited_where_the_calls_are(
    replicas: list[Pipeline], backend: str
) -> None:
    """The console's login limiter (per client address) follows the call rates' buckets."""
    logins = [alongside(p.services.rate_limiter, 2, "console-login") for p in replicas]
    granted = []
    for i in range(4):
        try:
            logins[i % 2].take("203.0.113.7")
            granted.append(True)
        except QuotaExceeded:
            granted.append(False)
    assert granted == ([True] * 2 + [False] * 2 if SHARED[backend] else [True] * 4)


@pytest.mark.postgres_only
def test_unreachable_buckets_refuse_the_call(replicas: list[Pipeline], free_port: int) -> None:
    """Fail closed: a call whose bucket cannot be taken is not served, known tool or not."""
    services = replicas[0].services
    url = make_url(services.settings.database_url).set(port=free_port)
    dead = StoreRateLimiter(shared_rates_engine(url.render_as_string(False)), RATE, "principal")
    services.rate_limiter = dead
    try:
        for outcome in (
            replicas[0].call("list_plans", "ops", {}),
            replicas[0].unknown_tool("nope", "ops"),
        ):
            error = outcome.payload["error"]
            assert outcome.is_error and error["details"]["reason"] == "unavailable", error
    finally:
        dead.dispose()
