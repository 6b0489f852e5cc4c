"""The long-lived collaborators a workflow step, a guard or a tool handler may use.

Built once by the composition root (``paybill.server.app.build_services``); nothing below
the workflow layer holds it, so the store, domain and executors stay usable on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from paybill.server.core.ratelimit import Limiter
from paybill.server.core.settings import Settings
from paybill.server.core.slots import Slots
from paybill.server.core.versioned_cache import VersionedCache
from paybill.server.domain.acl import Acl
from paybill.server.domain.audit_log import AuditLog
from paybill.server.domain.billing_policy import BillingPolicy
from paybill.server.domain.confirmed_reads import AuditIds, SeenVersions
from paybill.server.domain.lifecycle import Lifecycle
from paybill.server.domain.principals import ActivePrincipal
from paybill.server.domain.tenant_snapshots import TenantSnapshot
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.provisioner import Provisioner
from paybill.server.store.database import Database
from paybill.server.workflows.engine.definitions import Kinds


@dataclass
class Services:
    db: Database
    settings: Settings
    lifecycle: Lifecycle
    acl: Acl
    engines: Engines
    provisioner: Provisioner
    rate_limiter: Limiter  # per principal (in the store on PostgreSQL: shared_rates)
    tenant_rate: Limiter  # per tenant, at the plan's queries_per_minute
    tenant_slots: Slots  # per tenant, data statements running at once
    clock: Callable[[], datetime]
    # Reads that must not take SQLite's write lock (waiting on a run while a worker writes).
    reader: Engine
    billing: BillingPolicy  # policies/billing.yaml
    kinds: Kinds  # the workflow kinds this version runs (workflows.kinds.KINDS)
    audit: AuditLog  # the keyed chain and its checkpoint file
    # Active principals by name, under the store's principals version (the authenticate guard).
    principals: VersionedCache[str, ActivePrincipal] = field(default_factory=VersionedCache)
    # Tenants of read-only calls by slug or id, under the tenants version (tenant resolvers).
    tenants: VersionedCache[str, TenantSnapshot] = field(default_factory=VersionedCache)
    # The control versions calls last read: what a confirmed read call expects (guards.confirm).
    seen_versions: SeenVersions = field(default_factory=SeenVersions)
    # Audit ids drawn ahead by confirmations (a call without tenant work uses one).
    audit_ids: AuditIds = field(default_factory=AuditIds)
