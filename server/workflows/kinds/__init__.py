"""The workflow kinds, each a definition of ordered steps; ``KINDS`` lists them all.

The list is explicit: a kind exists because it is named here, not because some module
happened to be imported.
"""

from paybill.server.workflows.engine.definitions import Kinds
from paybill.server.workflows.kinds.billing_runs import SCHEDULED_DOWNGRADE
from paybill.server.workflows.kinds.migration import ISOLATION_MIGRATION
from paybill.server.workflows.kinds.tenant_runs import (
    DELETE_TENANT,
    OFFBOARD,
    PLAN_CHANGE,
    PROVISION,
)

KINDS = Kinds(
    [PROVISION, PLAN_CHANGE, OFFBOARD, DELETE_TENANT, ISOLATION_MIGRATION, SCHEDULED_DOWNGRADE]
)
