"""One JSON object per log line (``PAYBILL_LOG_FORMAT=json``), for log pipelines.

Only the record's own message and the fields in ``FIELDS`` are written: a call's line
carries who called what and how it ended, never its arguments, results or a credential,
and a library's ``extra`` cannot smuggle anything else in.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# Structured fields a record may carry (``logger.info(..., extra={...})``).
FIELDS = (
    "request_id",
    "principal",
    "tool",
    "tenant_id",
    "decision",
    "code",
    "duration_ms",
    "stages_ms",
    "transport",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            # The exception's type only: its text and traceback can quote data or paths.
            line["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(line, default=str, ensure_ascii=False)
