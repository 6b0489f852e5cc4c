"""The alembic history produces exactly the models' schema, and walks both ways cleanly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from paybill.server.store import Base, migrate
from paybill.server.store.database import Database, make_engine


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
