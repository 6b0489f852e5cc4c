"""Audit events for console requests refused before any tool ran: failed logins, forged or
session-less forms. Bounded per client as HTTP 401s are (``mcp.http_audit``), so a flood
cannot grow the log; the key a client sent is recorded as a digest prefix only."""

from __future__ import annotations

import logging

from paybill.server.core.vocabulary import Decision
from paybill.server.domain.audit import AuditEntry
from paybill.server.domain.audit_log import AuditLog
from paybill.server.guards.call import ANONYMOUS
from paybill.server.mcp.http_audit import RefusalBudget, key_digest
from paybill.server.store.database import Database

TOOL = "<console>"
log = logging.getLogger("paybill.console")


class ConsoleRefusals:
    def __init__(self, db: Database, audit: AuditLog, budget: RefusalBudget | None = None) -> None:
        self.db, self.audit = db, audit
        self.budget = budget or RefusalBudget()

    def record(
        self,
        client: str,
        path: str,
        code: str,
        detail: str,
        *,
        principal: str | None = None,
        key: str = "",
    ) -> None:
        """Never raises: the request is refused whether or not it could be recorded."""
        admitted, dropped = self.budget.admit(client)
        if not (admitted or dropped):
            return
        arguments: dict[str, object] = {"client": client, "path": path[:200]}
        if key:
            arguments["key_sha256"] = key_digest(key)
        try:
            with self.db.session() as session:
                if dropped:
                    self.audit.append(
                        session,
                        _entry(
                            ANONYMOUS.name,
                            {"dropped": dropped},
                            "DROPPED",
                            "UNAUTHENTICATED",
                            f"{dropped} more refused console requests were not recorded.",
                        ),
                    )
                if admitted:
                    self.audit.append(
                        session,
                        _entry(principal or ANONYMOUS.name, arguments, code, code, detail),
                    )
        except Exception:
            log.exception("could not record a refused console request")


def _entry(
    principal: str, arguments: dict[str, object], rule: str, code: str, detail: str
) -> AuditEntry:
    return AuditEntry(
        principal=principal,
        tool=TOOL,
        arguments=arguments,
        decision=Decision.DENIED,
        rule=f"console:{rule}",
        outcome=code,
        error_code=code,
        detail=detail,
    )
