"""The billing policy tick on the Temporal engine: a Temporal Schedule a worker creates,
whose workflow applies policies/billing.yaml in an activity."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio.client import Client

from paybill.server.core.vocabulary import SubscriptionStatus
from paybill.server.store import Subscription, Tenant
from paybill.server.store.base import utcnow
from tests.support.served import Served
from tests.support.temporal import BOUND_SECONDS, on_temporal

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _trigger(address: str, schedule_id: str) -> float:
    """Trigger the schedule once it exists; its interval in seconds."""

    async def go() -> float:
        client = await Client.connect(address)
        handle = client.get_schedule_handle(schedule_id)
        deadline = time.monotonic() + BOUND_SECONDS
        while True:
            try:
                described = await handle.describe()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        await handle.trigger()
        return described.schedule.spec.intervals[0].every.total_seconds()

    return asyncio.run(go())


def test_the_billing_tick_is_a_schedule_that_applies_the_policy(
    served: Served, temporal_server: str
) -> None:
    with served.services.db.session() as session:  # acme's trial ended a minute ago
        sub = session.scalar(select(Subscription).join(Tenant).where(Tenant.slug == "acme"))
        sub.status, sub.trial_end = SubscriptionStatus.TRIALING, utcnow() - timedelta(minutes=1)
    with on_temporal(served, temporal_server):
        queue = served.services.settings.temporal_task_queue
        every = _trigger(temporal_server, f"{queue}:billing-tick")
        assert every == served.services.billing.check_every_seconds
        deadline = time.monotonic() + BOUND_SECONDS
        while _status(served) is SubscriptionStatus.TRIALING:
            assert time.monotonic() < deadline, "the triggered tick never applied the policy"
            time.sleep(0.2)
    assert _status(served) is served.services.billing.trial_end_status


def _status(served: Served) -> SubscriptionStatus:
    with served.services.db.session() as session:
        return session.scalar(select(Subscription.status).join(Tenant).where(Tenant.slug == "acme"))
