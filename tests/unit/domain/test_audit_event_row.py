"""``audit.event_row`` (a confirmed read's event, built from plain values) is the row the
ORM path of ``append`` would insert: same columns, same values, same content MAC."""

from __future__ import annotations

import secrets

from paybill.server.core.vocabulary import Decision
from paybill.server.domain import audit
from paybill.server.domain.audit_key import AuditKey


def test_a_plain_event_row_is_the_orm_events_row() -> None:
    key = AuditKey(secrets.token_bytes(32))
    entry = audit.AuditEntry(
        principal="acme-bot",
        tool="query_table",
        arguments={"table": "customers", "api_key": "pb_secret"},
        decision=Decision.DENIED,
        rule="authorise:DENIED",
        outcome="DENIED",
        tenant_id="t-1",
        error_code="DENIED",
        detail="no",
    )
    row = audit.event_row(entry, key, 42)
    event = audit._event(entry, key)
    event.id, event.occurred_at = 42, row["occurred_at"]
    event.mac = audit.content_mac(event, key)
    assert row == audit._row(event)
    assert row["arguments"]["api_key"] == "[redacted]"
    assert row["seq"] is None and row["hash"] is None  # unsealed
