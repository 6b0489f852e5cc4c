"""Logging for CLI processes: Paybill's own messages on stderr, libraries quiet unless asked.

Alembic announces its context on every revision check and Casbin dumps the whole policy and
warns on each denied check (every refusal is in the audit log already), so without
``--verbose`` they only speak when something is wrong.
"""

from __future__ import annotations

import logging
import sys

NOISY = ("alembic", "casbin", "httpx", "httpcore", "uvicorn.access")


def configure(*, verbose: bool, paybill_level: int = logging.WARNING) -> None:
    """Log to stderr: ``paybill.*`` at ``paybill_level`` (a worker reports its runs at INFO),
    everything at INFO with ``verbose``, the noisy libraries at ERROR otherwise."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("paybill").setLevel(logging.INFO if verbose else paybill_level)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    # Statement echo (INFO) is a debugging tool, not a log: even --verbose leaves it off.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
