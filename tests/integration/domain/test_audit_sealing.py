"""Appends without the chain lock, and the sealer that links them: concurrent appends do
not wait for each other, the chain is the sealing order, nothing committed is lost when the
sealer never ran, and tampering with sealed or unsealed events is detected."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Decision
from paybill.server.domain import audit
from paybill.server.domain.audit_checkpoint import Checkpoint, read_checkpoint
from paybill.server.domain.audit_key import ensure_key
from paybill.server.domain.audit_log import AuditLog
from paybill.server.store import AuditEvent
from paybill.server.store.database import Database

WAIT = 20.0  # seconds a thread may take before the test calls it blocked
_NONE = Checkpoint(0, 0, audit.GENESIS, 0, "")  # no checkpoint file yet


def _log(tmp_path: Path) -> AuditLog:
    key, _ = ensure_key(tmp_path / "audit.key")
    return AuditLog(key, tmp_path / "audit.checkpoint", every=1, seconds=3600)


def _entry(i: int, principal: str = "ops") -> audit.AuditEntry:
    return audit.AuditEntry(principal, "list_plans", {"i": i}, Decision.ALLOWED, "r", "ok")


def _append(db: Database, log: AuditLog, n: int) -> None:
    for i in range(n):
        with db.session() as session:
            log.append(session, _entry(i))


@contextmanager
def _sealer_busy(db: Database) -> Iterator[None]:
    """Another sealer holds the lock: appends meanwhile commit their events unsealed."""
    with Session(db.engine) as busy, busy.begin():
        busy.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit.SEAL_LOCK})
        yield


def _append_unsealed(db: Database, log: AuditLog, n: int) -> list[int]:
    """Commit ``n`` events while the sealing lock is busy, and run no sealer after: as if
    the process were killed right after its commits."""
    ids = []
    with _sealer_busy(db):
        for i in range(n):
            with db.session() as session:
                ids.append(audit.append(session, _entry(i, "crashed"), log.key).id)
    return ids


def _events(session: Session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _verify(db: Database, log: AuditLog) -> audit.VerifyReport:
    with db.session() as session:
        return log.verify(session)


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


def _run(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


@pytest.mark.postgres_only
def test_an_open_transaction_that_appended_does_not_block_another_append(
    db: Database, tmp_path: Path
) -> None:
    """The first caller appends and keeps its transaction open; a second caller appends and
    commits meanwhile. With the old global lock the second waited for the first's commit."""
    log = _log(tmp_path)
    appended, release = threading.Event(), threading.Event()
    first_id: list[int] = []

    def first() -> None:
        with db.session() as session:
            first_id.append(log.append(session, _entry(1, "first")).id)
            appended.set()
            release.wait(WAIT)

    def second() -> None:
        with db.session() as session:
            log.append(session, _entry(2, "second"))

    holder = _run(first)
    try:
        assert appended.wait(WAIT)
        other = _run(second)
        other.join(WAIT)
        assert not other.is_alive(), "the second append waited for the first transaction"
    finally:
        release.set()
        holder.join(WAIT)
    report = _verify(db, log)
    assert report.ok, report.reason
    assert (report.checked, report.unsealed) == (2, 0)
    with db.session() as session:
        by_principal = {e.principal: e for e in _events(session)}
    # Appends take no lock and seal nothing: the chain is the sealing order, and the second
    # committed (and its commit's checkpoint sealed it) before the first committed.
    assert first_id[0] == by_principal["first"].id
    assert (by_principal["first"].seq, by_principal["second"].seq) == (2, 1)


@pytest.mark.postgres_only
def test_the_chain_is_the_sealing_order_not_the_id_order(db: Database, tmp_path: Path):
    """A lower id that commits after a higher one was sealed comes later in the chain."""
    log = _log(tmp_path)
    appended, release = threading.Event(), threading.Event()

    def slow() -> None:
        with db.session() as session:
            log.append(session, _entry(1, "slow"))
            appended.set()
            release.wait(WAIT)

    with _sealer_busy(db):
        holder = _run(slow)
        assert appended.wait(WAIT)
        with db.session() as session:
            log.append(session, _entry(2, "fast"))
    try:
        assert log.seal(db.engine) == 1  # "fast" only: "slow" has not committed
    finally:
        release.set()
        holder.join(WAIT)
    report = _verify(db, log)
    assert report.ok, report.reason
    with db.session() as session:
        slow_event, fast_event = _events(session)
    assert (slow_event.principal, slow_event.seq, fast_event.seq) == ("slow", 2, 1)


@pytest.mark.postgres_only
def test_many_threads_append_and_the_sealed_chain_verifies(db: Database, tmp_path: Path):
    log = _log(tmp_path)
    threads, calls = 8, 15
    errors: list[BaseException] = []

    def caller(n: int) -> None:
        try:
            for i in range(calls):
                with db.session() as session:
                    log.append(session, _entry(i, f"t{n}"))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    workers = [_run(lambda n=n: caller(n)) for n in range(threads)]
    for worker in workers:
        worker.join(WAIT * 3)
    assert not any(w.is_alive() for w in workers) and errors == []
    report = _verify(db, log)
    assert report.ok, report.reason
    assert (report.checked, report.unsealed, report.checkpoint) == (120, 0, "matched")
    assert _verify(db, log).checkpoint_count == 120
    with db.session() as session:
        assert sorted(e.seq for e in _events(session)) == list(range(1, 121))


@pytest.mark.postgres_only
def test_events_committed_without_sealing_are_reported_then_sealed(db: Database, tmp_path):
    log = _log(tmp_path)
    _append(db, log, 2)
    crashed = _append_unsealed(db, log, 3)
    with db.session() as session:
        # The chain alone: the unsealed events are counted and each proved by its MAC.
        report = audit.verify(session, log.key)
    assert report.ok, report.reason
    assert (report.checked, report.unsealed) == (2, 3)
    report = _verify(db, log)  # seals first
    assert report.ok, report.reason
    assert (report.checked, report.unsealed) == (5, 0)
    assert _verify(db, log).checkpoint_count == 5  # the first verify moved it
    with db.session() as session:
        assert [e.seq for e in _events(session) if e.id in crashed] == [3, 4, 5]


@pytest.mark.postgres_only
def test_a_process_killed_after_its_commit_loses_nothing(db: Database, tmp_path: Path):
    """A process commits two events while the sealing lock is busy, then is killed (SIGKILL:
    no shutdown, no checkpoint, no sealer); they are proved by their MACs, then sealed."""
    log = _log(tmp_path)
    _append(db, log, 1)
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from paybill.server.core.vocabulary import Decision
        from paybill.server.domain import audit
        from paybill.server.domain.audit_key import load_key
        from paybill.server.domain.audit_log import AuditLog
        from paybill.server.store.database import Database
        db = Database({db.url!r})
        log = AuditLog(load_key(Path({str(tmp_path / "audit.key")!r})), Path(os.devnull))
        for i in range(2):
            with db.session() as session:
                log.append(session, audit.AuditEntry(
                    "killed", "list_plans", {{"i": i}}, Decision.ALLOWED, "r", "ok"))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    with _sealer_busy(db):
        killed = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert killed.returncode == -9, killed.stderr
    with db.session() as session:
        report = audit.verify(session, log.key)
    assert report.ok, report.reason
    assert (report.checked, report.unsealed) == (1, 2)
    report = _verify(db, log)
    assert report.ok, report.reason
    assert (report.checked, report.unsealed) == (3, 0)
    with db.session() as session:
        assert [e.principal for e in _events(session) if e.seq in (2, 3)] == ["killed"] * 2


@pytest.mark.postgres_only
def test_a_sealer_that_dies_mid_batch_loses_nothing(db: Database, tmp_path: Path) -> None:
    log = _log(tmp_path)
    _append_unsealed(db, log, 3)
    with Session(db.engine) as session, session.begin():
        assert audit.seal(session, log.key) == 3
        session.rollback()  # the process died before its commit
    report = _verify(db, log)
    assert report.ok, report.reason
    assert report.checked == 3


@pytest.mark.postgres_only
def test_the_worker_loop_seals_what_calls_left(db: Database, tmp_path: Path) -> None:
    log = _log(tmp_path)
    _append_unsealed(db, log, 2)
    assert log.seal(db.engine) == 2
    assert log.seal(db.engine) == 0
    with db.session() as session:
        assert audit.verify(session, log.key).unsealed == 0


@pytest.mark.postgres_only
def test_a_busy_sealer_is_not_waited_for(db: Database, tmp_path: Path) -> None:
    """While another sealer holds the lock, an append's sealer gives up at once: the call
    commits and returns, its event unsealed until the next sealer."""
    log = _log(tmp_path)
    with _sealer_busy(db):
        done = _run(lambda: _append(db, log, 1))
        done.join(WAIT)
        assert not done.is_alive(), "the append waited for the busy sealer"
        with db.session() as session:
            assert audit.verify(session, log.key).unsealed == 1
    assert _verify(db, log).checked == 1


@pytest.mark.postgres_only
def test_a_tampered_unsealed_event_is_detected_and_never_sealed(db: Database, tmp_path):
    log = _log(tmp_path)
    _append(db, log, 1)
    victim, _ = _append_unsealed(db, log, 2)
    with _as_attacker(db) as session:
        session.get_one(AuditEvent, victim).outcome = "forged"
    report = _verify(db, log)
    assert (report.ok, report.first_broken_id) == (False, victim)
    assert report.reason == "unsealed, and its content does not match its MAC"
    with db.session() as session:
        event = session.get_one(AuditEvent, victim)
        assert (event.seq, event.hash) == (None, None)


@pytest.mark.postgres_only
def test_a_copied_unsealed_event_is_detected(db: Database, tmp_path: Path) -> None:
    """A replayed row (same content and MAC, another id): the MAC covers the id."""
    log = _log(tmp_path)
    (original,) = _append_unsealed(db, log, 1)
    with _as_attacker(db) as session:
        event = session.get_one(AuditEvent, original)
        names = [c.key for c in AuditEvent.__table__.columns if c.key != "id"]
        copy = AuditEvent(**{n: getattr(event, n) for n in names})
        session.add(copy)
        session.flush()
        copy_id = copy.id
    report = _verify(db, log)
    assert (report.ok, report.first_broken_id) == (False, copy_id)


def test_a_rewritten_sealed_event_is_detected(db: Database, tmp_path: Path) -> None:
    log = _log(tmp_path)
    _append(db, log, 3)
    with _as_attacker(db) as session:
        victim = _events(session)[1]
        victim.outcome = "forged"
        victim_id = victim.id
    report = _verify(db, log)
    assert (report.ok, report.first_broken_id) == (False, victim_id)
    assert report.reason == "content does not match its hash"


def test_a_sealed_event_deleted_in_the_middle_is_detected(db: Database, tmp_path) -> None:
    log = _log(tmp_path)
    _append(db, log, 3)
    with _as_attacker(db) as session:
        events = _events(session)
        session.execute(delete(AuditEvent).where(AuditEvent.id == events[1].id))
        after = events[2].id
    report = _verify(db, log)
    assert (report.ok, report.first_broken_id) == (False, after)
    assert report.reason == "prev_hash does not match the previous event"


def test_reordered_sealed_events_are_detected(db: Database, tmp_path: Path) -> None:
    log = _log(tmp_path)
    _append(db, log, 3)
    with _as_attacker(db) as session:
        a, b = _events(session)[:2]
        a.seq, b.seq = None, a.seq  # swapped through NULL: seq is unique
        session.flush()
        a.seq = 2
    report = _verify(db, log)
    assert not report.ok
    assert report.first_broken_id in {a.id, b.id}


def test_truncating_the_sealed_end_is_detected_by_the_checkpoint(db: Database, tmp_path):
    log = _log(tmp_path)
    _append(db, log, 4)
    assert _verify(db, log).checkpoint_count == 4
    with _as_attacker(db) as session:
        newest = max(_events(session), key=lambda e: e.seq or 0)
        session.execute(delete(AuditEvent).where(AuditEvent.id == newest.id))
    report = _verify(db, log)
    assert (report.ok, report.checked, report.checkpoint) == (False, 3, "broken")


def test_the_triggers_let_an_event_be_sealed_once_and_never_rewritten(db: Database) -> None:
    insert = text(
        "INSERT INTO audit_events (occurred_at, principal, tool, arguments, decision, rule, "
        "outcome, key_id, mac) VALUES (CURRENT_TIMESTAMP, 'p', 't', '{}', 'allowed', 'r', "
        "'ok', 'k', 'm')"
    )
    with db.engine.begin() as conn:
        conn.execute(insert)
    refused = (
        "UPDATE audit_events SET outcome = 'forged', seq = 1, prev_hash = 'a', hash = 'b'",
        "UPDATE audit_events SET mac = 'other', seq = 1, prev_hash = 'a', hash = 'b'",
        "UPDATE audit_events SET outcome = 'forged'",
    )
    for statement in refused:
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET seq = 1, prev_hash = 'a', hash = 'b'"))
    for statement in ("UPDATE audit_events SET hash = 'c'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT outcome, hash, mac FROM audit_events")).one()
    assert tuple(row) == ("ok", "b", "m")


def _until(done: object, what: str) -> None:
    """Wait for a background sealer (generous: the machine may be busy); not a timing test."""
    deadline = time.monotonic() + WAIT
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.postgres_only
def test_an_append_commits_its_event_unsealed(db: Database, tmp_path: Path) -> None:
    """Sealing is off the call path on PostgreSQL: the append only inserts."""
    key, _ = ensure_key(tmp_path / "audit.key")
    log = AuditLog(key, tmp_path / "audit.checkpoint", every=1000, seconds=3600)
    _append(db, log, 2)
    with db.session() as session:
        report = audit.verify(session, log.key)
    assert report.ok, report.reason
    assert (report.checked, report.unsealed) == (0, 2)


@pytest.mark.postgres_only
def test_the_sealer_thread_seals_in_the_background_and_checkpoints(
    db: Database, tmp_path: Path
) -> None:
    key, _ = ensure_key(tmp_path / "audit.key")
    log = AuditLog(key, tmp_path / "audit.checkpoint", every=3, seconds=3600)

    def unsealed() -> int:
        with db.session() as session:
            return audit.verify(session, log.key).unsealed

    with log.sealer(db.engine, batch_seconds=0.01, idle_seconds=0.05):
        _append(db, log, 3)
        _until(lambda: unsealed() == 0, "the sealer thread did not seal the events")
        # The third commit made a checkpoint due: the thread writes it after sealing.
        _until(
            lambda: (read_checkpoint(log.checkpoint_path, log.key) or _NONE).count == 3,
            "the sealer thread did not write the due checkpoint",
        )
        _append(db, log, 1)
    assert unsealed() == 0  # the block's end seals what is left, waiting for the lock
    report = _verify(db, log)
    assert (report.ok, report.checked, report.unsealed) == (True, 4, 0)


@pytest.mark.postgres_only
def test_the_sealer_thread_seals_what_other_processes_left(db: Database, tmp_path) -> None:
    log = _log(tmp_path)
    other = AuditLog(log.key, tmp_path / "other.checkpoint", every=1000, seconds=3600)
    with log.sealer(db.engine, batch_seconds=0.01, idle_seconds=0.05):
        _append(db, other, 2)  # another process's commits: this one's thread is not woken
        with db.session() as session:
            _until(lambda: audit.verify(session, log.key).unsealed == 0, "left unsealed")
