"""A workflow step's tenant statements hold no store transaction either: the scheduled
downgrade's row counts leave the store to other principals (SQLite's write lock)."""

from __future__ import annotations

from tests.support.held import Calls, Held, route_of
from tests.support.served import Clock, Served


def test_a_downgrade_check_leaves_the_store_writable_while_it_counts(
    clocked: tuple[Served, Clock],
) -> None:
    served, clock = clocked
    run = served.ok("ops", "change_plan", tenant="globex", plan="free")["workflow"]
    clock.advance(31 * 86400)
    route = route_of(served, "globex")
    engine = served.services.engines.for_tenant(route, read_only=True)
    held = Held(engine, "customers", route.tenant_id)
    try:
        worker = Calls()
        worker.start(served.drain)
        assert held.wait_started(1), "the downgrade never counted the tenant's rows"
        suspended = served.call("ops", "suspend_tenant", tenant="acme", reason="maintenance")
        assert not suspended.is_error, suspended.payload
        assert worker.running() == 1  # the count is still running
        held.release()
        worker.join()
    finally:
        held.close()
    assert served.ok("ops", "get_workflow", workflow_id=run["id"])["status"] == "succeeded"
