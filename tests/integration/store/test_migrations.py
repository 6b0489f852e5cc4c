"""The alembic history produces exactly the models' schema, and walks both ways cleanly."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from paybill.server.core.vocabulary import Decision
from paybill.server.domain import audit
from paybill.server.domain.audit_key import ensure_key
from paybill.server.domain.audit_log import AuditLog
from paybill.server.domain.bootstrap import initialise
from paybill.server.domain.lifecycle import Lifecycle
from paybill.server.domain.tenants import create_tenant
from paybill.server.store import Approval, AuditEvent, Base, Tenant, WorkflowRun, migrate
from paybill.server.store.database import Database, make_engine
from paybill.server.workflows.engine.runs import enqueue
from paybill.server.workflows.kinds.billing_runs import SCHEDULED_DOWNGRADE


def _schema_diff(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_head_matches_models_exactly(empty_url: str) -> None:
    engine = make_engine(empty_url)
    migrate.upgrade(engine)
    assert _schema_diff(engine) == []
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    engine.dispose()


def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    engine = make_engine(empty_url)
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert _schema_diff(engine) == []
    engine.dispose()


def test_audit_events_are_append_only(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (occurred_at, principal, tool, arguments, decision, "
                "rule, outcome, prev_hash, hash) VALUES (CURRENT_TIMESTAMP, 'p', 't', '{}', "
                "'allowed', 'r', 'ok', '0', '1')"
            )
        )
    for statement in ("UPDATE audit_events SET outcome = 'forged'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT outcome FROM audit_events")).scalars().all() == ["ok"]


def test_keyed_events_written_before_0012_keep_verifying_and_the_chain_goes_on(
    empty_url: str, tmp_path: Path
) -> None:
    """Events chained under the lock (0006-0010: no content MAC, their hash covers neither
    id nor MAC) verify after 0012, and the first event appended after them links to them."""
    engine = make_engine(empty_url)
    migrate.upgrade(engine, "0010")
    key = ensure_key(tmp_path / "audit.key")[0]
    prev = audit.GENESIS
    with engine.begin() as conn:
        for seq in (1, 2):
            old = AuditEvent(
                occurred_at=datetime(2026, 12, 1, 9, 30, seq, 123456, tzinfo=UTC),
                principal="ops",
                tool="list_plans",
                arguments={"n": seq},
                decision=Decision.ALLOWED,
                rule="r",
                outcome="ok",
                seq=seq,
                key_id=key.key_id,
                prev_hash=prev,
            )
            old.hash = audit.event_hash(old, key)
            columns = {c.key: getattr(old, c.key) for c in AuditEvent.__table__.columns}
            del columns["mac"], columns["id"]  # no MAC before 0012; the id from the database
            conn.execute(insert(AuditEvent.__table__).values(columns))
            prev = old.hash
    migrate.upgrade(engine)
    engine.dispose()
    db = Database(empty_url)
    log = AuditLog(key, tmp_path / "cp")
    with db.session() as session:
        entry = audit.AuditEntry("ops", "list_plans", {}, Decision.ALLOWED, "r", "ok")
        new = log.append(session, entry)
    with db.session() as session:
        report = log.verify(session)  # seals the new event first
    assert report.ok, report.reason
    assert (report.checked, report.keyed, report.unsealed) == (3, 3, 0)
    with db.session() as session:
        new = session.get_one(AuditEvent, new.id)
        assert (new.seq, new.prev_hash, new.mac is not None) == (3, prev, True)
    db.dispose()


def test_events_written_before_0006_verify_as_the_unkeyed_prefix(
    empty_url: str, tmp_path: Path
) -> None:
    """A store migrated from 0005 keeps its events verifiable: they are the unkeyed prefix,
    and keyed events follow them."""
    engine = make_engine(empty_url)
    migrate.upgrade(engine, "0005")
    legacy = AuditEvent(
        occurred_at=datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC),
        principal="ops",
        tenant_id=None,
        tool="list_plans",
        arguments={"a": 1},
        decision=Decision.ALLOWED,
        rule="acl:operator:list_plans",
        outcome="ok",
        error_code=None,
        detail=None,
        prev_hash=audit.GENESIS,
    )
    legacy.hash = audit.event_hash(legacy)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (occurred_at, principal, tool, arguments, decision, "
                "rule, outcome, prev_hash, hash) VALUES (:t, 'ops', 'list_plans', :a, "
                "'allowed', 'acl:operator:list_plans', 'ok', :p, :h)"
            ),
            {"t": legacy.occurred_at, "a": '{"a": 1}', "p": audit.GENESIS, "h": legacy.hash},
        )
    migrate.upgrade(engine)
    engine.dispose()
    db = Database(empty_url)
    log = AuditLog(ensure_key(tmp_path / "audit.key")[0], tmp_path / "cp")
    log.ensure_checkpoint(db.engine)
    with db.session() as session:
        entry = audit.AuditEntry("ops", "list_plans", {}, Decision.ALLOWED, "r", "ok")
        log.append(session, entry)
    with db.session() as session:
        report = log.verify(session)
    assert report.ok, report.reason
    assert (report.checked, report.unkeyed, report.keyed) == (2, 1, 1)


def test_0007_keeps_one_pending_approval_per_effect_and_one_waiting_downgrade(
    empty_url: str, lifecycle: Lifecycle
) -> None:
    """Stores that piled up duplicates before 0007 (the oldest approval and the newest
    downgrade stay pending; the others end) migrate, and the indexes then hold."""
    db = Database(empty_url)
    initialise(db)
    with db.session() as session:  # at head: the models have later revisions' columns
        tenant = create_tenant(
            session, lifecycle, slug="piled", name="P", plan_id="pro", actor="ops"
        )
    migrate.downgrade(db.engine, "0006")
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with db.session() as session:
        for n in range(3):
            # Core inserts: the model has columns of later revisions (0008's effect).
            session.execute(
                insert(Approval.__table__).values(
                    tenant_id=tenant.id,
                    tool="offboard_tenant",
                    arguments={},
                    plan_hash="2.same-effect",
                    status="pending",
                    requested_by="ops",
                    expires_at=start + timedelta(days=1),
                    created_at=start + timedelta(seconds=n),
                )
            )
            run = enqueue(
                session,
                tenant,
                SCHEDULED_DOWNGRADE,
                created_by="ops",
                input={"from_plan": "pro", "to_plan": "free", "n": n},
                not_before=start + timedelta(days=30),
            )
            run.created_at = start + timedelta(seconds=n)
        session.execute(
            insert(Approval.__table__).values(
                tenant_id=tenant.id,
                tool="offboard_tenant",
                arguments={},
                plan_hash="f" * 64,  # the format before "2."
                status="pending",
                requested_by="ops2",
                expires_at=start + timedelta(days=1),
                created_at=start - timedelta(seconds=1),
            )
        )
    migrate.upgrade(db.engine, "0007")
    pending = "SELECT status FROM approvals ORDER BY created_at"
    with db.engine.connect() as conn:
        statuses = [row[0] for row in conn.execute(text(pending))]
    assert statuses == ["void", "pending", "void", "void"]
    migrate.upgrade(db.engine)
    assert _schema_diff(db.engine) == []
    with db.session() as session:
        approvals = session.scalars(select(Approval).order_by(Approval.created_at)).all()
        # 0008 voids what 0007 left pending: it carries no effect to bind.
        assert [a.status.value for a in approvals] == ["void", "void", "void", "void"]
        assert "format changed" in (approvals[0].reason or "")
        assert "bound to their effect" in (approvals[1].reason or "")
        assert all(a.decided_at is not None for a in approvals)
        runs = session.scalars(select(WorkflowRun).order_by(WorkflowRun.created_at)).all()
        assert [(r.status.value, r.input["n"]) for r in runs] == [
            ("succeeded", 0),
            ("succeeded", 1),
            ("pending", 2),
        ]
        assert {s.status.value for s in runs[0].steps} == {"skipped"}
        assert {s.status.value for s in runs[2].steps} == {"pending"}
    with pytest.raises(IntegrityError), db.session() as session:
        enqueue(
            session,
            session.get(Tenant, tenant.id),
            SCHEDULED_DOWNGRADE,
            created_by="ops",
            input={},
            not_before=start,
        )
    db.dispose()


def _versions(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT scope, version FROM control_versions")).all())


# Writes by raw SQL (as any process could make them) and the scope each must move.
CONTROL_WRITES = [
    ("acl", "INSERT INTO casbin_rules (ptype, v0, v1, v2) VALUES ('g', 'user:x', 'operator', '*')"),
    ("acl", "UPDATE casbin_rules SET v1 = 'approver' WHERE v0 = 'user:x'"),
    ("acl", "DELETE FROM casbin_rules WHERE v0 = 'user:x'"),
    (
        "principals",
        "INSERT INTO principals (id, name, role, disabled, created_at) "
        "VALUES ('p1', 'x', 'operator', false, CURRENT_TIMESTAMP)",
    ),
    ("principals", "UPDATE principals SET disabled = true WHERE id = 'p1'"),
    ("principals", "DELETE FROM principals WHERE id = 'p1'"),
    ("tenants", "UPDATE plans SET name = name || '!' WHERE id = 'free'"),
    (
        "tenants",
        "INSERT INTO tenants (id, slug, name, plan_id, isolation, cloud, region, state, version, "
        "created_at, updated_at) VALUES ('t1', 'x', 'X', 'free', 'pooled', 'local', 'local', "
        "'active', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    ),
    (
        "tenants",
        "INSERT INTO subscriptions (id, tenant_id, plan_id, status, current_period_start, "
        "current_period_end, created_at, updated_at) VALUES ('s1', 't1', 'free', 'active', "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    ),
    ("tenants", "UPDATE subscriptions SET status = 'past_due' WHERE id = 's1'"),
    ("tenants", "DELETE FROM subscriptions WHERE id = 's1'"),
    ("tenants", "UPDATE tenants SET state = 'suspended' WHERE id = 't1'"),
    ("tenants", "DELETE FROM tenants WHERE id = 't1'"),
]


def test_0011_every_write_to_a_decisive_table_moves_its_scope(db: Database) -> None:
    """Triggers, not the application, move the versions: raw SQL from any writer counts."""
    for scope, statement in CONTROL_WRITES:
        before = _versions(db.engine)
        with db.engine.begin() as conn:
            conn.execute(text(statement))
        after = _versions(db.engine)
        assert after[scope] > before[scope], statement
        assert {k: v for k, v in after.items() if k != scope} == {
            k: v for k, v in before.items() if k != scope
        }, statement


def test_0013_downgrade_removes_the_versions_and_their_triggers(empty_url: str) -> None:
    engine = make_engine(empty_url)
    migrate.upgrade(engine)
    assert _versions(engine) == {"acl": 0, "principals": 0, "tenants": 0}
    migrate.downgrade(engine, "0012")
    assert "control_versions" not in inspect(engine).get_table_names()
    with engine.begin() as conn:  # a trigger left behind would fail on the missing table
        conn.execute(text(CONTROL_WRITES[0][1]))
        conn.execute(text(CONTROL_WRITES[3][1]))
    migrate.upgrade(engine)
    assert _versions(engine) == {"acl": 0, "principals": 0, "tenants": 0}
    with engine.begin() as conn:
        conn.execute(text(CONTROL_WRITES[2][1]))
    assert _versions(engine)["acl"] == 1
    engine.dispose()


@pytest.mark.postgres_only
def test_0011_versions_add_no_lock_cycle_between_writers(db: Database) -> None:
    """A writer holding a subscription row (the billing tick locks one, then updates it) and
    another that changed a tenant and waits for that row both commit: the version row is
    taken at commit, never held while a transaction waits (an immediate bump would deadlock
    here, the first writer waiting for the version the second holds)."""
    with db.engine.begin() as conn:
        for statement in (CONTROL_WRITES[7][1], CONTROL_WRITES[8][1]):
            conn.execute(text(statement))
    before = _versions(db.engine)["tenants"]
    holder = db.engine.connect()
    holder.begin()
    holder.execute(text("SELECT id FROM subscriptions WHERE id = 's1' FOR UPDATE"))
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            with db.engine.begin() as conn:
                conn.execute(text("UPDATE tenants SET name = 'Y' WHERE id = 't1'"))
                conn.execute(text("UPDATE subscriptions SET status = 'past_due' WHERE id = 's1'"))
        except BaseException as exc:  # reported below: the thread must not die silently
            errors.append(exc)

    thread = threading.Thread(target=other_writer)
    thread.start()
    with db.engine.connect() as watcher:  # until the other writer waits for the row lock
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'UPDATE subscriptions%'"
        )
        while watcher.execute(waiting).scalar() == 0 and thread.is_alive():
            watcher.rollback()
    holder.execute(text("UPDATE subscriptions SET status = 'canceled' WHERE id = 's1'"))
    holder.commit()
    holder.close()
    thread.join(timeout=30)
    assert not thread.is_alive() and errors == []
    assert _versions(db.engine)["tenants"] == before + 2
    with db.engine.begin() as conn:  # not a tenant the store's teardown could route to
        conn.execute(text(CONTROL_WRITES[10][1]))
        conn.execute(text(CONTROL_WRITES[12][1]))
