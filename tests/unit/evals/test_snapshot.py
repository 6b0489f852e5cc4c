"""Comparing two store pictures: the first changed section is named, allowed sections and
the refusal's own audit event are tolerated."""

from __future__ import annotations

from paybill.evals.snapshot import AUDIT, Appended, Picture, changes, unaudited

BEFORE = Picture(
    digests={"tenants": "1:aa", "tenant_rows.store.customers": "1:bb", AUDIT: "3:cc"},
    audit_tip=3,
)


def _after(audit_before: str = "3:cc", **digests: str) -> Picture:
    return Picture(
        digests={**BEFORE.digests, AUDIT: "4:dd", **digests},
        audit_tip=4,
        audit_before=audit_before,
        appended=[Appended("suspend_tenant", "NOT_FOUND")],
    )


def test_the_same_store_plus_the_refusals_event_is_unchanged() -> None:
    assert changes(BEFORE, BEFORE, frozenset()) is None
    after = _after()
    assert changes(BEFORE, after, frozenset()) is None
    assert unaudited(after, "suspend_tenant", "NOT_FOUND") is None


def test_a_change_names_the_section_and_its_row_counts() -> None:
    rows = _after(**{"tenant_rows.store.customers": "2:ee"})
    assert changes(BEFORE, rows, frozenset()) == (
        "tenant_rows.store.customers changed: 1 rows -> 2 rows"
    )
    state = _after(tenants="1:ff")
    assert changes(BEFORE, state, frozenset()) == "tenants changed: 1 rows -> 1 rows"
    assert changes(BEFORE, state, frozenset({"tenants"})) is None


def test_the_log_before_the_refusal_must_stay_as_it_was() -> None:
    rewritten = _after(audit_before="3:00")
    assert changes(BEFORE, rewritten, frozenset()) == f"{AUDIT} changed: 3 rows -> 3 rows"


def test_sections_that_appear_or_vanish_are_changes() -> None:
    dropped = Picture(digests={"tenants": "1:aa", AUDIT: "3:cc"}, audit_tip=3)
    assert changes(BEFORE, dropped, frozenset()) == (
        "tenant_rows.store.customers changed: 1 rows -> absent"
    )


def test_the_refusal_must_have_exactly_its_own_audit_event() -> None:
    assert unaudited(_after(), "suspend_tenant", None) is None
    assert unaudited(_after(), "suspend_tenant", "DENIED") is not None
    assert unaudited(_after(), "get_tenant", "NOT_FOUND") is not None
    none = Picture(digests=BEFORE.digests, audit_tip=3, audit_before="3:cc")
    assert unaudited(none, "suspend_tenant", "NOT_FOUND") == (
        "one audit event (suspend_tenant, NOT_FOUND) expected after the refusal, found none"
    )
    two = _after()
    two.appended.append(Appended("suspend_tenant", "NOT_FOUND"))
    assert unaudited(two, "suspend_tenant", "NOT_FOUND") is not None
