"""The store's part of a confirmed read call: two autocommitted statements (PostgreSQL).

A call that changes nothing is decided on what this process cached at the control versions
it last saw (``SeenVersions``). Before it acts (its tenant work, or its answer) one
statement confirms that those are still the store's versions, takes the call's rate buckets
and draws its audit event's id (``confirm``); after it, one statement inserts the audit
event and counts the tenant's usage (``finish``). Nothing else of the call touches the
store. When the versions moved, nothing was taken and the caller decides the call again
from the store. A confirmed call is decided at the moment of the first statement: anything
written before it was seen, anything after it is later.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, LiteralString, cast

import psycopg
from sqlalchemy import Dialect, Engine, Table, insert, text
from sqlalchemy.dialects.postgresql.base import PGDialect

from paybill.server.core.vocabulary import Decision
from paybill.server.domain.control_versions import Versions
from paybill.server.domain.shared_rates import StoreRateLimiter, sweep_sql, take_sql
from paybill.server.store import AuditEvent

_AUDIT = cast(Table, AuditEvent.__table__)


class SeenVersions:
    """The control versions this process last read: what a confirmed call expects. Only a
    guess (a confirmation checks it), so a stale value costs a second decision, never a
    wrong one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: Versions | None = None

    def get(self) -> Versions | None:
        return self._versions

    def saw(self, versions: Versions) -> None:
        with self._lock:
            self._versions = versions


@dataclass(frozen=True)
class BucketTake:
    """One take from a store bucket, deferred to the confirmation."""

    limiter: StoreRateLimiter
    key: str
    per_minute: int | None


@dataclass(frozen=True)
class Confirmation:
    current: bool  # the versions were the expected ones; nothing was taken otherwise
    audit_id: int  # the call's event id: drawn now, or the one of the event written
    refused: int | None = None  # the first take refused (the ones after it were not taken)
    rate: int = 0  # the refused bucket's rate and the tokens it had left
    tokens: float = 0.0
    spare_id: int | None = None  # an id drawn for a later call's event (``AuditIds``)

    @property
    def granted(self) -> bool:
        return self.current and self.refused is None


class AuditIds:
    """Audit event ids drawn ahead, so that a call without tenant work can confirm and write
    its event (whose content MAC covers its id) in one statement. Each such statement draws
    the next spare; an id never used leaves a gap in the ids, which nothing reads as a loss
    (the chain's order is its ``seq``)."""

    def __init__(self, keep: int = 4) -> None:
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._keep = keep

    def take(self) -> int | None:
        with self._lock:
            return self._ids.pop() if self._ids else None

    def wanted(self) -> bool:
        return len(self._ids) < self._keep

    def add(self, drawn: int) -> None:
        with self._lock:
            self._ids.append(drawn)


_PG: Dialect = cast(Callable[[], Dialect], PGDialect)()  # its constructor is untyped
# The audit event as the confirmation's last CTE, written only when the call was granted:
# every column cast to its type, as the Core insert of ``finish`` binds them.
_EVENT = (
    f"ev AS (INSERT INTO audit_events ({', '.join(_AUDIT.columns.keys())}) SELECT "
    + ", ".join(f"CAST(:ev_{c.key} AS {c.type.compile(dialect=_PG)})" for c in _AUDIT.columns)
    + " WHERE {condition})"
)


@cache
def _confirm_statement(takes: int, sweep: bool, spare: bool, event: bool) -> Any:
    """The confirmation with ``takes`` bucket takes, each only if the one before granted,
    drawing one audit id (two with ``spare``), and with ``event`` the call's audit event."""
    ctes = [
        "v AS (SELECT count(*) = 3 AS current FROM control_versions WHERE "
        "(scope = 'acl' AND version = :acl) OR (scope = 'principals' AND version = :principals)"
        " OR (scope = 'tenants' AND version = :tenants))"
    ]
    condition = "(SELECT current FROM v)"
    for i in range(takes):  # each take only if the one before granted
        ctes.append(f"t{i} AS ({take_sql(f':key{i}', f':rate{i}', condition)})")
        condition = f"(SELECT granted FROM t{i})"  # noqa: S608 (constants only)
    if sweep and takes:
        ctes.append(sweep_sql(", ".join(f":key{i}" for i in range(takes))))
    if event:  # the last take granted only if every one before did
        ctes.append(_EVENT.format(condition=condition))
    drawn = "nextval('audit_events_id_seq')"
    columns = ["(SELECT current FROM v)", drawn, drawn if spare else "NULL"]
    for i in range(takes):
        columns += [f"(SELECT {c} FROM t{i})" for c in ("granted", "tokens")]  # noqa: S608
    return text(f"WITH {', '.join(ctes)} SELECT {', '.join(columns)}")


def confirm(
    engine: Engine,
    expected: Versions,
    takes: Sequence[BucketTake],
    *,
    spare: bool = False,
    event: dict[str, Any] | None = None,
) -> Confirmation:
    """Whether the store is still at ``expected``; if so, take ``takes`` in order (stopping
    at the first refused) in the same statement, and draw an id for the call's audit event
    and, with ``spare``, one for a later call's. With ``event`` (an ``audit.event_row`` whose
    id was drawn ahead) the statement also writes the event if the call was granted, and
    draws a spare instead of the call's id. ``engine`` autocommits (``Database``)."""
    sweep = any([take.limiter.sweep_due() for take in takes])
    params: dict[str, Any] = {
        "acl": expected.acl,
        "principals": expected.principals,
        "tenants": expected.tenants,
        "now": takes[0].limiter.clock() if takes and takes[0].limiter.clock else None,
    }
    rates = []
    for i, take in enumerate(takes):
        rate = take.limiter.rate(take.per_minute)
        rates.append(rate)
        params[f"key{i}"] = take.limiter.bucket_key(take.key)
        params[f"rate{i}"] = float(rate)
    if event is not None:
        params |= {f"ev_{name}": value for name, value in _driver_values(event).items()}
    statement = _confirm_statement(len(takes), sweep, spare and event is None, event is not None)
    with _cursor(engine) as cursor:
        cursor.execute(_compiled(statement, engine.dialect), params)
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the confirmation returned no row")
    current, drawn, second = bool(row[0]), int(row[1]), row[2]
    audit_id, spare_id = drawn, (int(second) if second is not None else None)
    if event is not None:  # the call's id was drawn ahead: what is drawn now is a spare
        audit_id, spare_id = int(event["id"]), drawn
    if not current:
        return Confirmation(False, audit_id, spare_id=spare_id)
    for i in range(len(takes)):
        granted, tokens = row[3 + 2 * i], row[4 + 2 * i]
        if not granted:
            return Confirmation(
                True, audit_id, refused=i, rate=rates[i], tokens=float(tokens), spare_id=spare_id
            )
    return Confirmation(True, audit_id, spare_id=spare_id)


@dataclass(frozen=True)
class Usage:
    """One data call of a tenant, counted on its day."""

    tenant_id: str
    day: date
    rows_read: int = 0
    rows_written: int = 0


# The usage upsert of ``metering.meter``, as text: a Core insert of the ORM table in a CTE
# would bind its primary key.
_COUNT_USAGE = text(
    "INSERT INTO usage_counters AS c (tenant_id, day, calls, rows_read, rows_written) "
    "VALUES (:usage_tenant, :usage_day, 1, :usage_read, :usage_written) "
    "ON CONFLICT (tenant_id, day) DO UPDATE SET calls = c.calls + 1, "
    "rows_read = c.rows_read + excluded.rows_read, "
    "rows_written = c.rows_written + excluded.rows_written"
)


@cache
def _finish_statement(with_usage: bool) -> Any:
    """The audit event's insert, with the usage upsert as a CTE when the call counts one."""
    if not with_usage:
        return insert(_AUDIT)
    return insert(_AUDIT).add_cte(_COUNT_USAGE.columns().cte("usage"))


def finish(engine: Engine, event_row: dict[str, Any], usage: Usage | None) -> None:
    """Insert the call's audit event (``audit.event_row``) and count ``usage``, in one
    autocommitted statement: both are written or neither."""
    params = _driver_values(event_row)
    if usage is not None:
        params |= {
            "usage_tenant": usage.tenant_id,
            "usage_day": usage.day,
            "usage_read": usage.rows_read,
            "usage_written": usage.rows_written,
        }
    with _cursor(engine) as cursor:
        cursor.execute(_compiled(_finish_statement(usage is not None), engine.dialect), params)


def _driver_values(event_row: dict[str, Any]) -> dict[str, Any]:
    """An event row's values as the driver takes them: the decision's text, the arguments'
    JSON."""
    values = dict(event_row)
    values["decision"] = Decision(values["decision"]).value
    values["arguments"] = json.dumps(values["arguments"])
    return values


# The two statements go to the driver's cursor, compiled once: SQLAlchemy's execution and
# result machinery cost more CPU than the statement's round trip (docs/call-cost.md).
@contextmanager
def _cursor(engine: Engine) -> Iterator[psycopg.Cursor[Any]]:
    """A cursor of a pooled autocommit connection; one lost under the statement is dropped
    from the pool, not handed out again."""
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        if not isinstance(driver, psycopg.Connection):
            raise TypeError("confirmed reads need a psycopg connection (PostgreSQL)")
        with driver.cursor() as cursor:
            yield cursor
    except psycopg.OperationalError:
        connection.invalidate()
        raise
    finally:
        connection.close()


@cache
def _compiled(statement: Any, dialect: Dialect) -> LiteralString:
    sql: LiteralString = str(statement.compile(dialect=dialect))  # constants only
    return sql
