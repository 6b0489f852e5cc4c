"""Logging for CLI processes: Paybill's own messages on stderr, libraries quiet unless asked.

Alembic announces its context on every revision check and Casbin dumps the whole policy and
warns on each denied check (every refusal is in the audit log already), so without
``--verbose`` they only speak when something is wrong.
"""

from __future__ import annotations

import logging
import sys

from paybill.server.core.json_logs import JsonFormatter

CALLS_LOGGER = "paybill.calls"
NOISY = ("alembic", "casbin", "httpx", "httpcore", "uvicorn.access")


def configure(
    *, verbose: bool, paybill_level: int = logging.WARNING, log_format: str = "text"
) -> None:
    """Log to stderr: ``paybill.*`` at ``paybill_level`` (a worker reports its runs at INFO),
    everything at INFO with ``verbose``, the noisy libraries at ERROR otherwise. ``json``:
    one JSON object a line (``core.json_logs``), with one line per tool call."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    logging.getLogger("paybill").setLevel(logging.INFO if verbose else paybill_level)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    # Statement echo (INFO) is a debugging tool, not a log: even --verbose leaves it off.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    # A log pipeline wants a line per call (who, what, how it ended, how long).
    logging.getLogger(CALLS_LOGGER).setLevel(
        logging.INFO if verbose or log_format == "json" else logging.WARNING
    )
