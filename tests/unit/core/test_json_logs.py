"""JSON log lines carry the message and the known fields only."""

from __future__ import annotations

import json
import logging
import sys

from paybill.server.core.json_logs import JsonFormatter


def _line(record: logging.LogRecord) -> dict:
    return json.loads(JsonFormatter().format(record))


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("paybill.calls", logging.INFO, __file__, 1, "call %s", ("ok",), None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_known_fields_are_kept_and_others_dropped() -> None:
    line = _line(_record(principal="ops", tool="get_tenant", duration_ms=1.5, api_key="pb_x"))
    assert line["message"] == "call ok" and line["logger"] == "paybill.calls"
    assert (line["principal"], line["tool"], line["duration_ms"]) == ("ops", "get_tenant", 1.5)
    assert "api_key" not in line and "pb_x" not in json.dumps(line)


def test_an_exception_is_named_not_quoted() -> None:
    try:
        raise ValueError("/srv/secret/path row 'Ada'")
    except ValueError:
        record = _record()
        record.exc_info = sys.exc_info()
    line = _line(record)
    assert line["exception"] == "ValueError"
    assert "secret" not in json.dumps(line)
