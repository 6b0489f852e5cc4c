"""The guard chain: its order is data, and this is the order every call takes."""

from __future__ import annotations

from paybill.server.guards.pipeline import APPROVED_CHAIN, CHAIN

# (stage a refusal is audited under, guard): the order is part of the contract. A guard
# reading another's result comes after it (the data gate reads the sql guard's statement
# kind, the billing gate the retry guard's run), and approval is asked for last among the
# refusals a caller can fix without a human.
ORDER = [
    ("authenticate", "authenticate"),
    ("limits", "check_limits"),
    ("validate", "validate"),
    ("authorise", "resolve_tenant"),
    ("authorise", "authorise"),
    ("idempotency", "replay"),
    ("workflow", "check_action"),
    ("workflow", "check_approval"),
    ("execute", "check_sql"),
    ("execute", "check_retry"),
    ("execute", "check_arguments"),
    ("execute", "check_data_state"),
    ("execute", "check_quota"),
    ("execute", "check_billing"),
]


def test_the_chain_order() -> None:
    assert [(stage.name, stage.guard.__name__) for stage in CHAIN] == ORDER


def test_an_approved_call_passes_every_guard_but_the_deciding_calls_own() -> None:
    rerun = [(stage.name, stage.guard.__name__) for stage in APPROVED_CHAIN]
    assert rerun == [row for row in ORDER if row[0] not in ("limits", "idempotency")]
