"""Operator commands with direct store access, recorded in the audit log.

An operator command is not a tool call: it runs on the store itself (like `principal add`),
so no guard records it. ``operator_action`` does: the change and an ``allowed`` event commit
together; a refused one is rolled back and recorded ``denied`` with its code. The event's
principal is ``cli`` and its tool the command's name (``principal.disable``...); the
arguments name the target and the operating-system user who ran it.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from paybill.server.cli.context import CliContext
from paybill.server.core.errors import PaybillError
from paybill.server.core.vocabulary import Decision
from paybill.server.domain.audit import AuditEntry
from paybill.server.domain.audit_log import AuditLog

CLI_PRINCIPAL = "cli"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return "unknown"


@contextmanager
def operator_action(obj: CliContext, tool: str, target: str) -> Iterator[Session]:
    """A session for the command ``tool`` acting on ``target``, audited either way.

    Raises: whatever PaybillError the command raises (after recording it as denied).
    """
    db = obj.current_db()
    log = AuditLog.open(obj.settings)
    arguments = {"name": target, "os_user": _os_user()}

    def entry(decision: Decision, outcome: str, error: PaybillError | None = None) -> AuditEntry:
        return AuditEntry(
            principal=CLI_PRINCIPAL,
            tool=tool,
            arguments=arguments,
            decision=decision,
            rule=f"operator:{tool}" if error is None else f"operator:{error.code}",
            outcome=outcome,
            error_code=error.code if error else None,
            detail=error.message[:1000] if error else None,
        )

    try:
        with db.session() as session:
            yield session
            log.append(session, entry(Decision.ALLOWED, "ok"))
    except PaybillError as error:
        with db.session() as session:
            log.append(session, entry(Decision.DENIED, error.code, error))
        raise
    finally:
        log.checkpoint(db.engine)
