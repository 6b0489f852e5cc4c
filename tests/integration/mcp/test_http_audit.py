"""Refused HTTP authentication on record in a real store: within the budget each refusal is
an event, beyond it one summary event per minute counts the dropped ones."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from paybill.server.core.errors import Unauthenticated
from paybill.server.domain.audit_key import ensure_key
from paybill.server.domain.audit_log import AuditLog
from paybill.server.mcp.http_audit import RefusalBudget, RefusalRecorder, refusal_entry
from paybill.server.store import AuditEvent
from paybill.server.store.database import Database


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_is_bounded_and_summarised(db: Database, tmp_path: Path) -> None:
    log = AuditLog(ensure_key(tmp_path / "audit.key")[0], tmp_path / "cp", every=1000)
    clock = Clock()
    recorder = RefusalRecorder(db, log, RefusalBudget(per_client=2, total=3, clock=clock))
    refused = Unauthenticated("The API key is missing, invalid or revoked.", reason="invalid")

    def record(client: str, path: str, key: str) -> None:
        recorder.record_entry(client, refusal_entry(client, path, key, refused))

    for i in range(50):
        record(f"10.0.0.{i % 2}", "/mcp", "pb_wrong" if i % 3 else "")
    clock.now += 60
    record("10.0.0.9", "/sse", "")
    with db.session() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [e.rule for e in events] == ["http:UNAUTHENTICATED"] * 3 + [
        "http:DROPPED",
        "http:UNAUTHENTICATED",
    ]
    assert events[3].arguments == {"dropped": 47, "window_seconds": 60.0}
    assert [e.arguments["client"] for e in events[:3]] == ["10.0.0.0", "10.0.0.1", "10.0.0.0"]
    assert all("pb_wrong" not in str(e.arguments) for e in events)
    with db.session() as session:
        assert log.verify(session).ok
