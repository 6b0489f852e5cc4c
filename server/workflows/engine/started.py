"""Runs recorded by a transaction, handed to an engine that starts them once it commits.

The embedded worker polls the store, so it needs no hand-over: nothing is installed and
``note_recorded`` only tags the session. An engine that is told about runs (Temporal)
installs a starter for the store's engine: after a session bound to it commits, the starter
gets the ids of the runs that session recorded (``runs.enqueue``, ``schedule_replacing``).
A process that dies between the commit and the start leaves the run pending in the store; the
engine's sweep starts it later (``workflows.temporal.starter``).

Approvals go the same way (``note_approval``): one requested, or decided (approved, rejected,
voided), is handed to the starter after the commit, which starts or signals its workflow.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Protocol

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger("paybill.worker")
KEY = "paybill.recorded_runs"
APPROVALS = "paybill.noted_approvals"


class Starter(Protocol):
    def __call__(self, run_ids: list[str]) -> None: ...

    def approvals(self, approval_ids: list[str]) -> None: ...


_starters: weakref.WeakKeyDictionary[Engine, Starter] = weakref.WeakKeyDictionary()
_installed = threading.Lock()
_listening = False


def note_recorded(session: Session, run_id: str) -> None:
    """``run_id`` was recorded (or rescheduled) in ``session``'s transaction."""
    ids: list[str] = session.info.setdefault(KEY, [])
    if run_id not in ids:
        ids.append(run_id)


def note_approval(session: Session, approval_id: str) -> None:
    """``approval_id`` was requested or decided in ``session``'s transaction."""
    ids: list[str] = session.info.setdefault(APPROVALS, [])
    if approval_id not in ids:
        ids.append(approval_id)


def install(engine: Engine, starter: Starter) -> None:
    """Call ``starter`` with the runs each committed session bound to ``engine`` recorded."""
    global _listening
    with _installed:
        _starters[engine] = starter
        if not _listening:
            event.listen(Session, "after_commit", _after_commit)
            event.listen(Session, "after_soft_rollback", _after_rollback)
            _listening = True


def uninstall(engine: Engine) -> None:
    with _installed:
        _starters.pop(engine, None)


def _after_commit(session: Session) -> None:
    ids = session.info.pop(KEY, None)
    approvals = session.info.pop(APPROVALS, None)
    if not ids and not approvals:
        return
    bind = session.get_bind()
    starter = _starters.get(bind) if isinstance(bind, Engine) else None
    if starter is None:
        return
    if ids:
        try:
            starter(list(ids))
        except Exception:
            # Committed is committed: the run waits in the store for the engine's sweep.
            log.exception("starting runs %s failed; the engine's sweep starts them", ids)
    if approvals:
        try:
            starter.approvals(list(approvals))
        except Exception:
            # A pending approval's workflow is started by the sweep; a decided one's ends
            # at its timer, finding it decided.
            log.exception("telling Temporal of approvals %s failed", approvals)


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:  # the whole transaction, not a savepoint, was rolled back
        session.info.pop(KEY, None)
        session.info.pop(APPROVALS, None)
