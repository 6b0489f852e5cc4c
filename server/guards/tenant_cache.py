"""Tenants of read-only calls, from a cache under the store's tenants version.

Any write to ``tenants``, ``plans`` or ``subscriptions`` moves that version (triggers,
migration 0013), so a suspended tenant, a changed plan or a lapsed subscription decides the
very next call. Only calls that change nothing use it: a call whose tool takes
``MutatingInput`` (and an approved call run inside another) reads the rows in its own
session as before, so no write is ever based on a cached row. A ``MutatingInput`` may show
a read (``may_change_state``: run_sql's statement is a SELECT, decided from the parse the
sql guard makes of it), and then uses the cache too.
"""

from __future__ import annotations

from collections.abc import Callable

from paybill.server.domain.tenant_snapshots import attach, snapshot
from paybill.server.guards.call import Call
from paybill.server.guards.spec import MutatingInput
from paybill.server.store import Tenant


def reads_only(call: Call) -> bool:
    arguments = call.arguments
    may_write = isinstance(arguments, MutatingInput) and arguments.may_change_state()
    return call.owner is None and not may_write


def cached_tenant(call: Call, key: str, load: Callable[[], Tenant | None]) -> Tenant | None:
    """The tenant ``load`` finds, from the cache when the call only reads. ``key`` names the
    lookup (``slug:acme``, ``id:...``); a missing tenant is never cached."""
    if not reads_only(call):
        return load()
    cache, version = call.services.tenants, call.versions().tenants
    found = cache.get(version, key)
    if found is not None:
        return attach(call.session, found)
    tenant = load()
    if tenant is not None:
        cache.put(version, key, snapshot(tenant))
    return tenant
