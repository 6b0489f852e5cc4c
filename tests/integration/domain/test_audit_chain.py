"""The keyed audit chain and its checkpoint against what a database-only attacker can do:
bypass the append-only triggers, rewrite rows and recompute every hash they can compute,
delete the newest rows, empty the table. On both backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Decision
from paybill.server.domain import audit
from paybill.server.domain.audit_checkpoint import Checkpoint, write_checkpoint
from paybill.server.domain.audit_key import AuditKey, ensure_key
from paybill.server.domain.audit_log import AuditLog
from paybill.server.store import AuditEvent
from paybill.server.store.database import Database


def _log(tmp_path: Path, every: int = 1) -> AuditLog:
    key, _ = ensure_key(tmp_path / "audit.key")
    return AuditLog(key, tmp_path / "audit.checkpoint", every=every, seconds=3600)


def _append(db: Database, log: AuditLog, n: int) -> None:
    for i in range(n):
        with db.session() as session:
            entry = audit.AuditEntry("ops", "list_plans", {"i": i}, Decision.ALLOWED, "r", "ok")
            log.append(session, entry)


@contextmanager
def _as_attacker(db: Database) -> Iterator[Session]:
    """A session of someone with the database's superuser rights: the triggers are off."""
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
    with db.session() as session:
        yield session


def _events(session: Session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _relink_unkeyed(events: list[AuditEvent], start: int) -> None:
    """Recompute hashes from ``events[start]`` on as the unkeyed chain an attacker can
    compute (SHA-256, no key): ``key_id`` and ``seq`` cleared, every later link redone."""
    prev = events[start - 1].hash if start else audit.GENESIS
    for event in events[start:]:
        event.key_id, event.seq, event.prev_hash = None, None, prev
        event.hash = audit.event_hash(event)
        prev = event.hash


def _verify(db: Database, log: AuditLog) -> audit.VerifyReport:
    with db.session() as session:
        return log.verify(session)


def test_an_intact_chain_is_keyed_and_matches_its_checkpoint(db: Database, tmp_path: Path):
    log = _log(tmp_path)
    _append(db, log, 3)
    report = _verify(db, log)
    assert report.ok, report.reason
    assert (report.checked, report.keyed, report.unkeyed) == (3, 3, 0)
    assert (report.checkpoint, report.checkpoint_count) == ("matched", 3)
    with db.session() as session:
        assert {e.key_id for e in _events(session)} == {log.key.key_id}


def test_a_rewritten_row_with_recomputed_unkeyed_hashes_is_detected(db: Database, tmp_path):
    log = _log(tmp_path)
    _append(db, log, 3)
    with _as_attacker(db) as session:
        events = _events(session)
        events[1].outcome = "forged"
        _relink_unkeyed(events, 1)
        victim = events[1].id
    report = _verify(db, log)
    assert (report.ok, report.first_broken_id) == (False, victim)
    # Events without a position are walked first (as the legacy prefix): it does not start
    # the chain.
    assert report.reason == "prev_hash does not match the previous event"


def test_a_log_rewritten_whole_as_unkeyed_is_detected_by_the_checkpoint(db: Database, tmp_path):
    log = _log(tmp_path)
    _append(db, log, 3)
    with _as_attacker(db) as session:
        events = _events(session)
        events[0].outcome = "forged"
        _relink_unkeyed(events, 0)
        first = events[0].id
    report = _verify(db, log)
    assert (report.ok, report.first_broken_id) == (False, first)
    assert report.reason == "more unkeyed events than when the log became keyed"


def test_a_row_signed_with_another_key_is_detected(db: Database, tmp_path: Path) -> None:
    log = _log(tmp_path)
    _append(db, log, 2)
    guessed = AuditKey(b"\x01" * 32)
    with _as_attacker(db) as session:
        victim = _events(session)[1]
        victim.outcome = "forged"
        victim.hash = audit.event_hash(victim.__class__(**_columns(victim, guessed)), guessed)
        victim.key_id = guessed.key_id
        victim_id = victim.id
    report = _verify(db, log)
    assert (report.ok, report.first_broken_id) == (False, victim_id)
    assert report.reason == f"signed with key {guessed.key_id}, not the audit key"


def _columns(event: AuditEvent, key: AuditKey) -> dict[str, object]:
    names = [c.key for c in AuditEvent.__table__.columns]
    return {**{n: getattr(event, n) for n in names}, "key_id": key.key_id}


def test_deleting_the_newest_events_is_detected_by_the_checkpoint(db: Database, tmp_path):
    log = _log(tmp_path)
    _append(db, log, 5)
    with _as_attacker(db) as session:
        newest = _events(session)[-2:]
        session.execute(delete(AuditEvent).where(AuditEvent.id >= newest[0].id))
    with db.session() as session:
        # The chain alone cannot tell: what is left is a valid, shorter chain.
        assert audit.verify(session, log.key).ok
    report = _verify(db, log)
    assert (report.ok, report.checked, report.checkpoint) == (False, 3, "broken")
    assert report.reason == (
        f"the log ends after 3 events but the checkpoint recorded 5 up to event "
        f"{newest[1].id}: events were deleted"
    )


def test_an_emptied_table_is_a_broken_log(db: Database, tmp_path: Path) -> None:
    log = _log(tmp_path)
    _append(db, log, 2)
    with _as_attacker(db) as session:
        session.execute(delete(AuditEvent))
    report = _verify(db, log)
    assert (report.ok, report.checked) == (False, 0)
    assert "events were deleted" in (report.reason or "")


def test_events_appended_after_a_deletion_do_not_move_the_checkpoint(db: Database, tmp_path):
    """The server keeps writing after the attack: the checkpoint stays where the evidence is
    (on SQLite the new events even reuse the deleted ids)."""
    log = _log(tmp_path)
    _append(db, log, 4)
    with _as_attacker(db) as session:
        last = _events(session)[-1]
        session.execute(delete(AuditEvent).where(AuditEvent.id >= _events(session)[-2].id))
    _append(db, log, 5)
    report = _verify(db, log)
    assert not report.ok
    assert report.checkpoint_count == 4
    if report.first_broken_id is not None:  # the id was reused
        assert report.first_broken_id == last.id
        assert report.reason == "differs from the event the checkpoint recorded"


def test_deletions_within_the_checkpoint_window_pass(db: Database, tmp_path: Path) -> None:
    """The documented window: events committed after the newest checkpoint can go unnoticed."""
    log = _log(tmp_path, every=3)
    _append(db, log, 3)  # the third commit writes the checkpoint
    _append(db, log, 2)  # not yet due
    with _as_attacker(db) as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id > _events(session)[2].id))
    report = _verify(db, log)
    assert (report.ok, report.checked, report.checkpoint_count) == (True, 3, 3)


def test_a_checkpoint_not_signed_with_the_key_is_refused(db: Database, tmp_path: Path) -> None:
    log = _log(tmp_path)
    _append(db, log, 1)
    other = AuditKey(b"\x02" * 32)
    write_checkpoint(log.checkpoint_path, Checkpoint(0, 0, audit.GENESIS, 0, other.key_id), other)
    report = _verify(db, log)
    assert not report.ok
    assert report.reason == "the checkpoint file is not signed with the audit key"


def test_an_unkeyed_legacy_prefix_is_verified_and_reported(db: Database, tmp_path: Path) -> None:
    """Events written before the chain was keyed (key_id NULL) verify as the SHA-256 chain
    they were written as; the first keyed event's MAC covers the last legacy hash."""
    with db.session() as session:
        prev = audit.GENESIS
        for i in range(2):
            event = AuditEvent(
                occurred_at=audit.utcnow(),
                principal="ops",
                tool="list_plans",
                arguments={"i": i},
                decision=Decision.ALLOWED,
                rule="r",
                outcome="ok",
                prev_hash=prev,
            )
            event.hash = prev = audit.event_hash(event)
            session.add(event)
    log = _log(tmp_path)
    log.ensure_checkpoint(db.engine)  # as at start: the legacy prefix is fixed at 2
    _append(db, log, 2)
    report = _verify(db, log)
    assert report.ok, report.reason
    assert (report.checked, report.keyed, report.unkeyed) == (4, 2, 2)
    with db.session() as session:
        assert [e.seq for e in _events(session)] == [None, None, 3, 4]
    with _as_attacker(db) as session:
        events = _events(session)
        events[0].outcome = "forged"
        _relink_unkeyed(events[:2], 0)
        first_keyed = events[2].id
    report = _verify(db, log)
    assert (report.ok, report.first_broken_id) == (False, first_keyed)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_truncate_is_refused(db: Database) -> None:
    with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_events"))
