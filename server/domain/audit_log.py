"""The audit log as the server uses it: the keyed chain, its sealers and its checkpoint file.

Appends never wait and, on PostgreSQL, never seal (``audit.append``): their events commit
unsealed, proved by their content MAC, and a sealer links them into the chain in batches,
in a transaction of its own. The sealers: a thread of ``paybill serve`` (``sealer``), woken
by this process's commits, which seals ``batch_seconds`` later what all processes left;
the worker's loop, every poll; and, waiting for the lock (only sealers ever wait), a
verification, a checkpoint and a server's or worker's shutdown.

Writing the checkpoint on every append would put a file write (and fsync) on every call, so
it is written after a commit that brings the events committed by this process since the last
checkpoint to ``every``, or once ``seconds`` have passed since it; after a verification that
passed; and at shutdown. Events committed after the newest checkpoint can be deleted from
the end of the log without ``verify`` noticing; every event up to it cannot.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, event, func, select, text
from sqlalchemy.orm import Session

from paybill.server.core.settings import Settings
from paybill.server.domain import audit
from paybill.server.domain.audit_checkpoint import (
    Checkpoint,
    CheckpointUnreadable,
    read_checkpoint,
    write_checkpoint,
)
from paybill.server.domain.audit_key import AuditKey, ensure_key, load_key
from paybill.server.store import AuditEvent

log = logging.getLogger("paybill.audit")
_APPENDED = "paybill.audit.appended"  # Session.info: events appended, not yet committed
_LISTENING = "paybill.audit.listening"  # Session.info: its commit hooks are registered


class AuditLog:
    def __init__(
        self,
        key: AuditKey,
        checkpoint_path: Path,
        *,
        every: int = 100,
        seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        reader: Engine | None = None,
    ) -> None:
        self.key = key
        self.checkpoint_path = checkpoint_path
        self.every = every
        self.seconds = seconds
        self._clock = clock
        # Where the checkpoint reads the committed tip (on SQLite, without the write lock).
        self.reader = reader
        self._writing = threading.Lock()  # held while a checkpoint is read and written
        self._counting = threading.Lock()  # the events since the last checkpoint
        self._since = 0
        self._last = clock()
        self._committed = threading.Event()  # this process committed events: wake the sealer
        self._sealing = False  # a sealer thread runs (and writes the due checkpoints)

    @classmethod
    def open(
        cls, settings: Settings, *, create: bool = True, reader: Engine | None = None
    ) -> AuditLog:
        """The log of ``settings``' key and checkpoint files; the key is created when missing
        unless ``create`` is False.

        Raises:
            InvalidInput: the key file is missing (``create`` False) or unusable.
        """
        path = settings.audit_key_path
        key = ensure_key(path)[0] if create else load_key(path)
        return cls(
            key,
            settings.audit_checkpoint_path,
            every=settings.audit_checkpoint_every,
            seconds=settings.audit_checkpoint_seconds,
            reader=reader,
        )

    def append(
        self, session: Session, entry: audit.AuditEntry, *, event_id: int | None = None
    ) -> AuditEvent:
        """Append ``entry`` in ``session``'s transaction (with ``event_id`` when one was drawn
        for it: ``audit.append``); its commit may write a checkpoint."""
        appended = audit.append(session, entry, self.key, event_id=event_id)
        if not session.info.get(_LISTENING):
            session.info[_LISTENING] = True
            event.listen(session, "after_commit", self._after_commit)
            event.listen(session, "after_rollback", _forget)
        session.info[_APPENDED] = session.info.get(_APPENDED, 0) + 1
        return appended

    def seal(self, engine: Engine, *, wait: bool = False) -> int:
        """Seal the committed unsealed events in a transaction of its own; how many were
        sealed. Without ``wait`` it gives up at once when another sealer holds the lock.
        Never raises: an event left unsealed is sealed by the next sealer, and ``verify``
        checks it against its MAC meanwhile."""
        if engine.dialect.name != "postgresql":
            return 0  # sealed inline by the append, under SQLite's write lock
        try:
            with Session(engine) as session, session.begin():
                if wait:
                    session.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit.SEAL_LOCK}
                    )
                elif not session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": audit.SEAL_LOCK}
                ):
                    return 0
                return audit.seal(session, self.key)
        except Exception:
            log.exception("could not seal the audit log")
            return 0

    @contextmanager
    def sealer(
        self, engine: Engine, *, batch_seconds: float, idle_seconds: float
    ) -> Iterator[None]:
        """Seal in a background thread while the block runs, then once more at its end
        (waiting for the lock). The thread wakes when this process commits events, lets
        ``batch_seconds`` pass so that one transaction seals the calls of that time, and
        seals; every ``idle_seconds`` it also seals what other processes left."""
        if engine.dialect.name != "postgresql":
            yield  # SQLite's appends seal inline
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                self._committed.wait(idle_seconds)
                if stop.wait(batch_seconds):
                    break
                self._committed.clear()  # before sealing: a commit meanwhile wakes it again
                # Counted before sealing, so every counted event is in what this pass seals;
                # one committed during the pass stays counted for the next checkpoint.
                due = self._due()
                self.seal(engine)
                if due:
                    self._checkpoint(self.reader or engine, counted=due)

        thread = threading.Thread(target=run, name="paybill-audit-sealer", daemon=True)
        self._sealing = True
        thread.start()
        try:
            yield
        finally:
            stop.set()
            self._committed.set()
            thread.join()
            self._sealing = False
            self.seal(engine, wait=True)

    def verify(self, session: Session, *, wait: bool = True) -> audit.VerifyReport:
        """Seal, then verify the chain against the checkpoint and every event left unsealed
        against its MAC; a passing log gets a fresh checkpoint. ``wait=False`` for a caller
        whose thread may hold the sealing lock in another transaction (a tool call)."""
        self.seal(session.get_bind().engine, wait=wait)
        try:
            checkpoint = read_checkpoint(self.checkpoint_path, self.key)
        except CheckpointUnreadable as exc:
            return audit.VerifyReport(0, reason=str(exc), key_id=self.key.key_id)
        report = audit.verify(session, self.key, checkpoint)
        if report.ok:
            tip = Checkpoint(
                report.checked,
                report.last_id or 0,
                report.last_hash or audit.GENESIS,
                report.unkeyed,
                self.key.key_id,
            )
            try:
                with self._exclusive(wait=True):
                    # Another writer may have moved it on while the log was read.
                    self._write(tip, read_checkpoint(self.checkpoint_path, self.key))
            except (OSError, CheckpointUnreadable):
                log.exception("could not write the audit checkpoint")
        return report

    def _after_commit(self, session: Session) -> None:
        appended = session.info.pop(_APPENDED, 0)
        if appended:
            self.committed(session.get_bind().engine, appended)

    def committed(self, engine: Engine, appended: int = 1) -> None:
        """``appended`` events were committed in ``engine``'s store outside ``append`` (one
        statement of ``confirmed_reads.finish``): wake the sealer, count them towards the
        next checkpoint, as a session's commit does."""
        self._committed.set()
        with self._counting:
            self._since += appended
        due = 0 if self._sealing else self._due()
        if not due:
            return  # a sealer thread writes the due checkpoint after its next batch
        # No sealer thread (a one-shot command, SQLite): this commit seals, only trying
        # the lock, then records the sealed tip. Not ``checkpoint``: a call never waits.
        self.seal(engine)
        self._checkpoint(self.reader or engine, counted=due)

    def _due(self) -> int:
        """The events counted since the last checkpoint when one is due now, else 0."""
        with self._counting:
            due = self._since >= self.every or (
                self._since > 0 and self._clock() - self._last >= self.seconds
            )
            return self._since if due else 0

    def checkpoint(self, engine: Engine) -> None:
        """Seal, then record the sealed tip, if it extends the current checkpoint; never
        raises (a missed checkpoint narrows nothing that was already recorded)."""
        with self._counting:
            counted = self._since
        self.seal(engine, wait=True)
        self._checkpoint(engine, counted=counted)

    def _checkpoint(self, engine: Engine, *, counted: int) -> None:
        """Record the sealed tip; ``counted``: the events counted before the sealing that
        preceded it (those it covers), taken off the count; later ones stay counted."""
        try:
            with self._exclusive(wait=False) as mine:
                if not mine:
                    return  # another thread is writing one now
                with self._counting:
                    self._since, self._last = max(0, self._since - counted), self._clock()
                current = read_checkpoint(self.checkpoint_path, self.key)
                with engine.connect() as conn:
                    new = self._tip(conn, current)
                if new is not None:
                    self._write(new, current)
        except Exception:
            log.exception("could not write the audit checkpoint")

    @contextmanager
    def _exclusive(self, *, wait: bool) -> Iterator[bool]:
        """One writer at a time: this process's threads (a lock) and the processes sharing
        the file (an advisory lock on a file beside it), so no writer moves it backwards."""
        if not self._writing.acquire(blocking=wait):
            yield False
            return
        try:
            self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            lock = self.checkpoint_path.with_name(self.checkpoint_path.name + ".lock")
            with open(lock, "a") as handle:  # closing it releases the flock
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield True
        finally:
            self._writing.release()

    def _tip(self, conn: Connection, current: Checkpoint | None) -> Checkpoint | None:
        """The sealed tip as a checkpoint, or None when none may be written now."""
        tip = conn.execute(
            select(AuditEvent.id, AuditEvent.hash, AuditEvent.seq, AuditEvent.key_id)
            .where(AuditEvent.seq.is_not(None))
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        ).first()
        if tip is None:  # no keyed event yet: the legacy prefix's end, if any
            tip = conn.execute(
                select(AuditEvent.id, AuditEvent.hash, AuditEvent.seq, AuditEvent.key_id)
                .where(AuditEvent.hash.is_not(None))
                .order_by(AuditEvent.id.desc())
                .limit(1)
            ).first()
        if current is None:
            # The first checkpoint fixes the legacy (unkeyed) prefix, so a database-only
            # attacker cannot later pass off a rewritten log as unkeyed legacy events.
            if tip is None:
                return Checkpoint(0, 0, audit.GENESIS, 0, self.key.key_id)
            unkeyed = conn.scalar(select(func.count()).where(AuditEvent.key_id.is_(None))) or 0
            if tip.key_id is None:
                return Checkpoint(unkeyed, tip.id, tip.hash, unkeyed, self.key.key_id)
        else:
            unkeyed = current.unkeyed
            if current.count and current.last_hash != conn.scalar(
                select(AuditEvent.hash).where(AuditEvent.id == current.last_id)
            ):
                log.error("audit log no longer holds its checkpoint; run `paybill audit verify`")
                return None
        if tip is None or tip.seq is None or tip.key_id != self.key.key_id:
            return None
        return Checkpoint(tip.seq, tip.id, tip.hash, unkeyed, self.key.key_id)

    def ensure_checkpoint(self, engine: Engine) -> None:
        """Write the first checkpoint if there is none yet (at start and `paybill init`)."""
        if not self.checkpoint_path.exists():
            self.checkpoint(engine)

    def _write(self, new: Checkpoint, current: Checkpoint | None) -> None:
        if current is not None and new.count < current.count:
            # The log is shorter than its checkpoint: keep the evidence for verify.
            log.error("audit log is shorter than its checkpoint; run `paybill audit verify`")
            return
        write_checkpoint(self.checkpoint_path, new, self.key)


def _forget(session: Session) -> None:
    session.info.pop(_APPENDED, None)
