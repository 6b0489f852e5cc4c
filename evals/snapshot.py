"""The store's business state as digests, to prove that a refused call changed nothing.

A picture is one row count and MD5 per section, computed by the database in one statement
per database (SQLite gets the MD5 function from Python on the harness's own connection):

- the control plane: plans, tenants, subscriptions, lifecycle transitions, principals and
  keys, Casbin rules, approvals, workflow runs and steps, with the columns a tool call
  could change (timestamps are left out, and so is ``api_keys.last_used_at``, which every
  HTTP request sets);
- every table of tenant data in every place it lives (the pool, bridge schemas, silo
  databases, the SQLite tenants file), all rows and columns;
- the audit log up to its last event. A refusal is audited, so the events it appends are
  checked apart: a later picture taken ``since`` an earlier one digests the log only up to
  the earlier one's last event and lists the events appended after it (``appended``).

Idempotency records and usage counters are left out on purpose: a refusal may be
remembered and is metered.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from paybill.server.core.vocabulary import Isolation, RunStatus
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import POOL_SCHEMA, TenantRoute
from paybill.server.executors.dataplane.schema import TENANT_TABLES
from paybill.server.store import (
    ApiKey,
    Approval,
    AuditEvent,
    CasbinRule,
    LifecycleTransition,
    Plan,
    Principal,
    Subscription,
    Tenant,
    WorkflowRun,
    WorkflowStep,
)

# Section -> (columns, ordering key). Everything a tool could change that a refusal must
# leave alone; keys are stable, so two pictures of the same rows digest alike.
CONTROL_PLANE: dict[str, tuple[list[Any], Any]] = {
    "plans": (
        [
            Plan.id,
            Plan.tier,
            Plan.price_cents,
            Plan.isolation,
            Plan.max_rows,
            Plan.max_seats,
            Plan.queries_per_minute,
            Plan.features,
        ],
        Plan.id,
    ),
    "tenants": (
        [
            Tenant.id,
            Tenant.slug,
            Tenant.name,
            Tenant.plan_id,
            Tenant.isolation,
            Tenant.state,
            Tenant.version,
        ],
        Tenant.slug,
    ),
    "subscriptions": (
        [
            Subscription.tenant_id,
            Subscription.plan_id,
            Subscription.status,
            Subscription.scheduled_plan_id,
            Subscription.current_period_end,
        ],
        Subscription.tenant_id,
    ),
    "lifecycle_transitions": (
        [LifecycleTransition.id, LifecycleTransition.action, LifecycleTransition.to_state],
        LifecycleTransition.id,
    ),
    "principals": (
        [Principal.name, Principal.role, Principal.tenant_id, Principal.disabled],
        Principal.name,
    ),
    "api_keys": ([ApiKey.prefix, ApiKey.revoked_at], ApiKey.prefix),
    "casbin_rules": (
        [CasbinRule.ptype, CasbinRule.v0, CasbinRule.v1, CasbinRule.v2],
        CasbinRule.id,
    ),
    "approvals": ([Approval.id, Approval.tool, Approval.status, Approval.decided_by], Approval.id),
    "workflow_runs": ([WorkflowRun.id, WorkflowRun.status], WorkflowRun.id),
    "workflow_steps": (
        [WorkflowStep.run_id, WorkflowStep.position, WorkflowStep.status],
        WorkflowStep.id,
    ),
}
AUDIT = "audit_log"
_SEPARATOR = "\x1f"  # between the columns of a row (rows are joined by newlines)


@dataclass(frozen=True)
class Appended:
    """An audit event appended after an earlier picture."""

    tool: str
    outcome: str


@dataclass(frozen=True)
class Picture:
    """Section -> "rows:md5"; ``audit_tip`` is the id of the last audit event pictured."""

    digests: dict[str, str]
    audit_tip: int
    # Set when taken ``since`` an earlier picture: the log up to that picture's last event,
    # and the events appended after it.
    audit_before: str | None = None
    appended: list[Appended] = field(default_factory=list)


def _md5(value: str | None) -> str:
    return hashlib.md5((value or "").encode(), usedforsecurity=False).hexdigest()


def _prepare(conn: Connection) -> str:
    """The name of the MD5 function on this connection (SQLite gets one from Python)."""
    if conn.dialect.name == "postgresql":
        return "md5"
    conn.connection.driver_connection.create_function(  # type: ignore[union-attr]
        "paybill_md5", 1, _md5, deterministic=True
    )
    return "paybill_md5"


def _digest(
    dialect: str, columns: list[Any], order: Any, where: ColumnElement[bool] | None = None
) -> Any:
    """A scalar subquery: "rows:md5" of ``columns`` of every row, ordered by ``order``."""
    postgres = dialect == "postgresql"
    quote = func.quote_nullable if postgres else func.quote
    row: Any = quote(columns[0])
    for column in columns[1:]:
        row = row.op("||")(literal(_SEPARATOR)).op("||")(quote(column))
    table = columns[0].table
    if postgres:
        query = select(
            func.count().label("n"),
            func.string_agg(row, aggregate_order_by(literal("\n"), order)).label("rows"),
        ).select_from(table)
        if where is not None:
            query = query.where(where)
        inner = query.subquery()
        md5 = func.md5
    else:
        # SQLite (3.40) has no ordered aggregates: aggregate an ordered subquery.
        query = select(row.label("r")).select_from(table).order_by(order)
        if where is not None:
            query = query.where(where)
        ordered = query.subquery()
        inner = select(
            func.count().label("n"), func.group_concat(ordered.c.r, "\n").label("rows")
        ).subquery()
        md5 = func.paybill_md5
    value = (
        cast(inner.c.n, String)
        .op("||")(literal(":"))
        .op("||")(md5(func.coalesce(inner.c.rows, "")))
    )
    return select(value).select_from(inner).scalar_subquery()


# Statements are built once per dialect (and set of tables): building and compiling them
# costs more than running them.
_STATEMENTS: dict[tuple[Any, ...], Select[Any]] = {}


def _control_plane(dialect: str) -> Select[Any]:
    key = ("control_plane", dialect)
    if key not in _STATEMENTS:
        tip = select(func.coalesce(func.max(AuditEvent.id), 0)).scalar_subquery()
        # Sealing (seq, prev_hash, hash) is no change of an event: a sealer links events
        # committed unsealed whenever it runs, between two pictures or not.
        sealing = {"seq", "prev_hash", "hash"}
        audit = [column for column in AuditEvent.__table__.c if column.key not in sealing]
        since = AuditEvent.id <= bindparam("since_tip", type_=Integer)
        _STATEMENTS[key] = select(
            tip.label("_tip"),
            *(
                _digest(dialect, columns, order).label(name)
                for name, (columns, order) in CONTROL_PLANE.items()
            ),
            _digest(dialect, audit, AuditEvent.id, AuditEvent.id <= tip).label(AUDIT),
            _digest(dialect, audit, AuditEvent.id, since).label("_audit_before"),
        )
    return _STATEMENTS[key]


def take(store: Engine, engines: Engines, since: Picture | None = None) -> Picture:
    """Everything a tool call could change that a refusal must leave alone; with ``since``,
    also the audit log up to that picture and the events appended after it."""
    with store.connect() as conn, conn.begin():
        _prepare(conn)
        statement = _control_plane(conn.dialect.name)
        since_tip = since.audit_tip if since is not None else 0
        values = dict(conn.execute(statement, {"since_tip": since_tip}).one()._mapping)
        appended: list[Appended] = []
        if since is not None:
            appended = [
                Appended(tool, outcome)
                for tool, outcome in conn.execute(
                    select(AuditEvent.tool, AuditEvent.outcome)
                    .where(AuditEvent.id > since.audit_tip)
                    .order_by(AuditEvent.id)
                )
            ]
        routes = [
            TenantRoute(i, Isolation(iso))
            for i, iso in conn.execute(select(Tenant.id, Tenant.isolation).order_by(Tenant.id))
        ]
    tip, before = int(values.pop("_tip")), values.pop("_audit_before")
    digests = {**values, **_tenant_rows(engines, routes)}
    return Picture(
        digests=digests,
        audit_tip=tip,
        audit_before=before if since is not None else None,
        appended=appended,
    )


def _tenant_rows(engines: Engines, routes: list[TenantRoute]) -> dict[str, str]:
    """Digests ("tenant_rows.<place>.<table>": "rows:md5") of every table of tenant data in every
    place a tenant's rows live: the pool and bridge schemas, silo databases, or the SQLite
    tenants file. Read with the store's own credentials (which see every row)."""
    places: dict[str | None, set[str | None]] = {None: {POOL_SCHEMA if engines.postgres else None}}
    for route in routes:
        places.setdefault(route.database, set()).add(route.schema if engines.postgres else None)
    found: dict[str, str] = {}
    for database, schemas in sorted(places.items(), key=lambda p: p[0] or ""):
        place = database or "store"
        route = next((r for r in routes if r.database == database), _SHARED)
        try:
            with engines.for_route(route, read_only=True).connect() as conn, conn.begin():
                found.update(_tables_at(conn, place, schemas))
        except SQLAlchemyError:
            found[f"tenant_rows.{place}"] = "unavailable"
    return found


# Any pooled route: for_route() gives the shared engine (the store's database or the SQLite
# tenants file) for every route without a database of its own.
_SHARED = TenantRoute("0" * 32, Isolation.POOLED)


def _tables_at(conn: Connection, place: str, schemas: set[str | None]) -> dict[str, str]:
    """Digests of the tenant tables present in ``schemas`` (None: the default schema)."""
    dialect = conn.dialect.name
    _prepare(conn)
    if dialect == "postgresql":
        listed = conn.execute(
            text("SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(:s)"),
            {"s": sorted(s for s in schemas if s is not None)},
        )
    else:
        listed = conn.execute(text("SELECT NULL, name FROM sqlite_master WHERE type = 'table'"))
    present = tuple(sorted((s or "", t) for s, t in listed if t in TENANT_TABLES))
    if not present:
        return {}
    key = ("tenant_rows", dialect, present)
    if key not in _STATEMENTS:
        digests = []
        for schema, name in present:
            model = TENANT_TABLES[name]
            columns = [Column(c.name, c.type) for c in model.c]
            table = Table(name, MetaData(), *columns, schema=schema or None)
            digests.append(_digest(dialect, list(table.c), table.c.id).label(f"t{len(digests)}"))
        _STATEMENTS[key] = select(*digests)
    row = conn.execute(_STATEMENTS[key]).one()
    names = [f"tenant_rows.{place}.{s + '.' if s else ''}{t}" for s, t in present]
    return dict(zip(names, row, strict=True))


def changes(before: Picture, after: Picture, allowed: frozenset[str]) -> str | None:
    """The first section (outside ``allowed``) that differs, described; None if none does.
    The audit log is compared up to ``before``'s last event when ``after`` was taken since
    it (what was appended is checked by ``unaudited``)."""
    old = {**before.digests}
    new = {**after.digests}
    if after.audit_before is not None:
        new[AUDIT] = after.audit_before
    for section in sorted(set(old) | set(new)):
        if section in allowed or old.get(section) == new.get(section):
            continue
        return f"{section} changed: {_rows(old.get(section))} -> {_rows(new.get(section))}"
    return None


def _rows(digest: str | None) -> str:
    if digest is None:
        return "absent"
    count, _, _ = digest.partition(":")
    return f"{count} rows" if count.isdigit() else digest


def unaudited(after: Picture, tool: str, code: str | None) -> str | None:
    """Why the events appended since the earlier picture are not exactly this refusal's one
    audit event (``tool`` refused with ``code``); None if they are."""
    events = [(e.tool, e.outcome) for e in after.appended]
    if len(events) == 1 and events[0][0] == tool and code in (None, events[0][1]):
        return None
    expected = f"one audit event ({tool}, {code})"
    return f"{expected} expected after the refusal, found {events[:3] or 'none'}"


def settle(store: Engine, timeout_seconds: float = 60.0) -> bool:
    """Wait until no workflow run is running or due (a background worker would otherwise
    change the store under a picture); True once settled, False on timeout. Runs scheduled
    for later (a downgrade at the period end) are settled by definition."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        with Session(store) as s:
            now = datetime.now(UTC)
            busy = s.scalar(
                select(WorkflowRun.id)
                .where(
                    or_(
                        WorkflowRun.status == RunStatus.RUNNING,
                        and_(
                            WorkflowRun.status == RunStatus.PENDING,
                            or_(WorkflowRun.not_before.is_(None), WorkflowRun.not_before <= now),
                        ),
                    )
                )
                .limit(1)
            )
        if busy is None:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
