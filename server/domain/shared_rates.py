"""Token buckets in the store, so that every replica takes from the same bucket (PostgreSQL).

One statement per take: an upsert of the key's row that refills the bucket by the time
since its last take, takes a call if one is there, and returns what it decided. The row is
locked only for that statement (the limiter's connections autocommit): calls of one key
from many processes queue on it for microseconds, never for the length of a call, and a
call that is refused later still used its token, as with the in-memory bucket.

Growth: a key's row is reused by every take of the key; a row idle for a minute is a full
bucket, the same as no row, so each process sweeps such rows about once a minute, in the
statement of a take (no extra round trip).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, text

from paybill.server.core.ratelimit import Limiter, RateLimiter, exceeded, rate_of
from paybill.server.core.settings import is_postgres, parse_database_url
from paybill.server.store.database import postgres_engine

SWEEP_EVERY_SECONDS = 60.0
# A bucket refills completely in a minute, whatever its rate: older rows say nothing.
IDLE_SECONDS = 60
# The database's clock unless a test fixes the time: one clock for every replica.
NOW = "coalesce(CAST(:now AS double precision), extract(epoch FROM clock_timestamp()))"


def take_sql(key: str = ":key", rate: str = ":rate", when: str = "true") -> str:
    """The take of one bucket: an upsert of row ``key`` (a bind) that refills it by the time
    since its last take, takes a call if one is there, and returns what it decided; done
    only when ``when`` holds (the confirmed reads chain takes in one statement)."""
    rate = f"CAST({rate} AS double precision)"
    # All SET expressions see the old row (b); ``excluded.at`` is this take's time.
    refill = f"least({rate}, b.tokens + greatest(0, excluded.at - b.at) * {rate} / 60)"
    return (
        f"INSERT INTO rate_buckets AS b (key, tokens, at, granted) "
        f"SELECT {key}, {rate} - 1, {NOW}, true WHERE {when} "
        f"ON CONFLICT (key) DO UPDATE SET "
        f"tokens = {refill} - CASE WHEN {refill} >= 1 THEN 1 ELSE 0 END, "
        f"at = greatest(b.at, excluded.at), granted = {refill} >= 1 "
        "RETURNING granted, tokens"
    )


def sweep_sql(kept: str = ":key") -> str:
    """A CTE deleting rows idle long enough to be full buckets, never those of ``kept`` (a
    list of binds): rows stay bounded by the keys of the last minute or so."""
    return (
        f"swept AS (DELETE FROM rate_buckets WHERE at < {NOW} - {IDLE_SECONDS} "  # noqa: S608
        f"AND key NOT IN ({kept}))"
    )


_TAKE = take_sql()
# The same take, with the sweep of idle rows (never the key being taken) as a CTE.
_SWEEP_AND_TAKE = f"WITH {sweep_sql()} {_TAKE}"
TAKE = text(_TAKE)
SWEEP_AND_TAKE = text(_SWEEP_AND_TAKE)


class StoreRateLimiter:
    """A token bucket per key in the ``rate_buckets`` table: ``per_minute`` calls, refilled
    continuously, shared by every process on the store.

    ``engine`` must autocommit (``shared_rates_engine``); ``scope`` keeps the keys of two
    limiters (principals, tenants, console clients) apart in the one table. ``clock``, in
    epoch seconds, replaces the database's clock (tests).
    """

    def __init__(
        self,
        engine: Engine,
        per_minute: int,
        scope: str,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.engine = engine
        self.per_minute = per_minute
        self.scope = scope
        self.clock = clock
        self._ticks = clock or time.monotonic
        self._swept_at = self._ticks()
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: int | None = None) -> None:
        """Raises: QuotaExceeded when ``key`` has no call left right now."""
        rate = self.rate(per_minute)
        params = {
            "key": self.bucket_key(key),
            "rate": float(rate),
            "now": self.clock() if self.clock else None,
        }
        statement = SWEEP_AND_TAKE if self.sweep_due() else TAKE
        with self.engine.connect() as conn:
            granted, tokens = conn.execute(statement, params).one()
        if not granted:
            raise exceeded(rate, tokens)

    def dispose(self) -> None:
        self.engine.dispose()

    def rate(self, per_minute: int | None = None) -> int:
        """The bucket's size and refill per minute for a take of ``per_minute``."""
        return rate_of(self.per_minute, per_minute)

    def bucket_key(self, key: str) -> str:
        """The row of ``key`` in ``rate_buckets``: the scope keeps limiters apart."""
        return f"{self.scope}/{key}"

    def sweep_due(self) -> bool:
        """True for one take about every minute in this process."""
        with self._lock:
            now = self._ticks()
            if now - self._swept_at < SWEEP_EVERY_SECONDS:
                return False
            self._swept_at = now
            return True


def shares_buckets(database_url: str) -> bool:
    """Whether a store keeps its buckets in ``rate_buckets``: PostgreSQL does. SQLite serves
    one machine, where a process's memory is cheaper and the behaviour is unchanged."""
    return is_postgres(database_url)


def shared_rates_engine(database_url: str) -> Engine:
    """The limiters' own autocommitting engine: a take holds its connection for one statement
    and never waits on the pool the call's session holds a connection of."""
    return postgres_engine(parse_database_url(database_url), isolation_level="AUTOCOMMIT")


def alongside(limiter: Limiter, per_minute: int, scope: str) -> Limiter:
    """A limiter of ``scope`` kept where ``limiter`` keeps its buckets: in the store (on its
    engine) when that one is shared, else in this process."""
    if isinstance(limiter, StoreRateLimiter):
        return StoreRateLimiter(limiter.engine, per_minute, scope, limiter.clock)
    return RateLimiter(per_minute)
