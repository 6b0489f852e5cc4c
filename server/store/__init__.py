"""The control-plane store: SQLAlchemy models, engine and migrations."""

from paybill.server.store.acl import CasbinRule
from paybill.server.store.audit import AuditEvent
from paybill.server.store.base import Base
from paybill.server.store.identity import ApiKey, Principal
from paybill.server.store.tenancy import LifecycleTransition, Plan, Subscription, Tenant
from paybill.server.store.usage import UsageCounter
from paybill.server.store.workflows import (
    Approval,
    IdempotencyRecord,
    TenantRunLock,
    WorkflowRun,
    WorkflowStep,
)

__all__ = [
    "ApiKey",
    "Approval",
    "AuditEvent",
    "Base",
    "CasbinRule",
    "IdempotencyRecord",
    "LifecycleTransition",
    "Plan",
    "Principal",
    "Subscription",
    "Tenant",
    "TenantRunLock",
    "UsageCounter",
    "WorkflowRun",
    "WorkflowStep",
]
