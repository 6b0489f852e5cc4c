"""Which failures of a workflow step are transient: the step is run again, not failed.

Every step converges when run again, so a fault of the database connection under it (the
backend terminated, the server restarting, the network dropped) or a transaction the server
chose to abort (a serialization failure, a deadlock) is retried with a capped exponential
backoff (this module); anything else fails the run as before. What counts as transient is
``store.outage.is_transient``, the pipeline's classifier too.
"""

from __future__ import annotations


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before re-run ``attempt`` (1, 2, ...): base, 2·base, 4·base... ≤ cap."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))
