"""Tenants of read-only calls, from a cache under the store's tenants version.

Any write to ``tenants``, ``plans`` or ``subscriptions`` moves that version (triggers,
migration 0013), so a suspended tenant, a changed plan or a lapsed subscription decides the
very next call. Only calls that change nothing use it: a call whose tool takes
``MutatingInput`` (and an approved call run inside another) reads the rows in its own
session as before. A ``MutatingInput`` may show a read (``may_change_state``: run_sql's
statement is a SELECT, decided from the parse the sql guard makes of it), and then uses
the cache too; so does a confirmed read's attempt (``guards.confirm``), which never
writes: it is decided again from the store first. So no write is ever based on a cached
row.
"""

from __future__ import annotations

from collections.abc import Callable

from paybill.server.domain.tenant_snapshots import attach, snapshot
from paybill.server.guards.call import Call
from paybill.server.guards.confirm import confirms_reads
from paybill.server.guards.spec import MutatingInput
from paybill.server.store import Tenant


def reads_only(call: Call) -> bool:
    """The call cannot write: its arguments show a read, or it is a confirmed read's
    attempt, which is decided again from the store before it would write."""
    if call.owner is not None:
        return False
    arguments = call.arguments
    may_write = isinstance(arguments, MutatingInput) and arguments.may_change_state()
    return call.attempt is not None or not may_write


def cached_tenant(call: Call, key: str, load: Callable[[], Tenant | None]) -> Tenant | None:
    """The tenant ``load`` finds, from the cache when the call only reads. ``key`` names the
    lookup (``slug:acme``, ``id:...``); a missing tenant is never cached."""
    if call.owner is not None:  # an approved call, inside the deciding one
        return load()
    reading = reads_only(call)
    if not (reading or confirms_reads(call.services)):
        return load()
    cache, version = call.services.tenants, call.versions().tenants
    if reading:
        found = cache.get(version, key)
        if found is not None:
            return attach(call.session, found)
    tenant = load()
    if tenant is not None:
        # The rows as loaded, under the version read before them, whatever this call does
        # next: where reads are confirmed, a call that may write (run_sql) fills the cache
        # for the confirmed reads that follow.
        cache.put(version, key, snapshot(tenant))
    return tenant
