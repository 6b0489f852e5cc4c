"""One log line per tool call (logger ``paybill.calls``, INFO; on with ``PAYBILL_LOG_FORMAT=
json`` or ``--verbose``): request id, principal, tool, tenant, decision, code, duration and
stage timings. Never arguments, results or credentials."""

from __future__ import annotations

import logging

from paybill.server.guards.observe import CallRecord

log = logging.getLogger("paybill.calls")


class CallLog:
    def finished(self, record: CallRecord) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        log.info(
            "%s %s: %s",
            record.trace.tool,
            record.decision,
            record.code,
            extra={
                "request_id": record.trace.request_id,
                "principal": record.principal,
                "tool": record.trace.tool,
                "tenant_id": record.tenant_id,
                "decision": record.decision,
                "code": record.code,
                "duration_ms": round(record.duration_seconds * 1000, 3),
                "stages_ms": {
                    name: round(seconds * 1000, 3)
                    for name, seconds in record.stage_seconds().items()
                },
            },
        )
