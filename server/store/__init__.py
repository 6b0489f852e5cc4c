"""The control-plane store: SQLAlchemy models (one module per aggregate), engine, migrations."""

from paybill.server.store.acl_rules import CasbinRule
from paybill.server.store.approvals import Approval
from paybill.server.store.audit import AuditEvent
from paybill.server.store.base import Base
from paybill.server.store.control_versions import ControlVersion
from paybill.server.store.idempotency import IdempotencyRecord
from paybill.server.store.notifications import ApprovalNotification, NotificationStatus
from paybill.server.store.principals import ApiKey, Principal
from paybill.server.store.rate_buckets import RateBucket
from paybill.server.store.runs import TenantRunLock, WorkflowRun, WorkflowStep
from paybill.server.store.tenants import LifecycleTransition, Plan, Subscription, Tenant
from paybill.server.store.usage import UsageCounter

__all__ = [
    "ApiKey",
    "Approval",
    "ApprovalNotification",
    "AuditEvent",
    "Base",
    "CasbinRule",
    "ControlVersion",
    "IdempotencyRecord",
    "LifecycleTransition",
    "NotificationStatus",
    "Plan",
    "Principal",
    "RateBucket",
    "Subscription",
    "Tenant",
    "TenantRunLock",
    "UsageCounter",
    "WorkflowRun",
    "WorkflowStep",
]
