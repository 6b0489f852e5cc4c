"""Audit appends without the chain lock: a content MAC per event, the chain link sealed later.

``prev_hash`` and ``hash`` become nullable (NULL until the sealer links the event), ``mac``
holds the content MAC, ``seq`` gets a unique index (the chain is walked in seq order) and
unsealed events a partial index (the sealer's queue). The append-only triggers now let an
UPDATE through only when it seals an unsealed event and changes nothing else; DELETE is
still refused. Existing rows are all sealed (or legacy) and verify as before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEAL_COLUMNS = ("seq", "prev_hash", "hash", "mac")
_CONTENT_COLUMNS = (
    "id",
    "occurred_at",
    "principal",
    "tenant_id",
    "tool",
    "arguments",
    "decision",
    "rule",
    "outcome",
    "error_code",
    "detail",
    "key_id",
)
# An UPDATE that only seals: the event was unsealed, gets its link, and its content (and a
# content MAC it already had) stays as it was. Anything else is refused as before.
_SQLITE_SEALS = (
    "OLD.hash IS NULL AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND NEW.hash IS NOT NULL "
    "AND (OLD.mac IS NULL OR NEW.mac IS OLD.mac) AND "
    + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _CONTENT_COLUMNS)
)
_PG_NOT_CONTENT = "'{" + ",".join(_SEAL_COLUMNS) + "}'::text[]"
_PG_SEAL_FUNCTION = (
    "CREATE FUNCTION paybill_audit_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF OLD.hash IS NULL AND OLD.seq IS NULL AND OLD.prev_hash IS NULL "
    "AND NEW.hash IS NOT NULL AND (OLD.mac IS NULL OR NEW.mac = OLD.mac) "
    f"AND to_jsonb(NEW) - {_PG_NOT_CONTENT} = to_jsonb(OLD) - {_PG_NOT_CONTENT} "
    "THEN RETURN NEW; END IF; RAISE EXCEPTION 'audit_events is append-only'; END $$"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_events", "prev_hash", nullable=True)
        op.alter_column("audit_events", "hash", nullable=True)
        op.add_column("audit_events", sa.Column("mac", sa.String(length=64), nullable=True))
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute(_PG_SEAL_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_events_seal_only BEFORE UPDATE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION paybill_audit_seal_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION paybill_audit_append_only()"
        )
    else:
        # The batch rebuild drops the table's triggers: they are made again below.
        with op.batch_alter_table("audit_events") as batch:
            batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=True)
            batch.alter_column("hash", existing_type=sa.String(64), nullable=True)
            batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
        _sqlite_triggers(seal=True)
    op.create_index(op.f("ix_audit_events_seq"), "audit_events", ["seq"], unique=True)
    op.create_index(
        "ix_audit_events_unsealed",
        "audit_events",
        ["id"],
        postgresql_where=sa.text("hash IS NULL"),
        sqlite_where=sa.text("hash IS NULL"),
    )


def downgrade() -> None:
    # Fails while unsealed events exist (NOT NULL): run `paybill audit verify` first, which
    # seals them.
    op.drop_index("ix_audit_events_unsealed", table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_seq"), table_name="audit_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_delete ON audit_events")
        op.execute("DROP TRIGGER audit_events_seal_only ON audit_events")
        op.execute("DROP FUNCTION paybill_audit_seal_only()")
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION paybill_audit_append_only()"
        )
        op.drop_column("audit_events", "mac")
        op.alter_column("audit_events", "hash", nullable=False)
        op.alter_column("audit_events", "prev_hash", nullable=False)
    else:
        with op.batch_alter_table("audit_events") as batch:
            batch.drop_column("mac")
            batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
            batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        _sqlite_triggers(seal=False)


def _sqlite_triggers(*, seal: bool) -> None:
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}")
    when = f" WHEN NOT ({_SQLITE_SEALS})" if seal else ""
    op.execute(
        f"CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events{when} "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
    )
