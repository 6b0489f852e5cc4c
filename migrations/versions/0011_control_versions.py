"""Control versions: one counter per scope of what decides a call, moved by triggers.

Any write to ``casbin_rules`` (scope acl), ``principals`` (principals) or ``tenants``,
``plans``, ``subscriptions`` (tenants) moves the scope's version in the writer's transaction,
whoever the writer is; servers compare it once per call to drop cached decisions.

PostgreSQL: a BEFORE ... FOR EACH STATEMENT trigger, so the version row is locked before any
row of the table (writers of a scope queue on one lock in one order). SQLite has row triggers
only; its writers are serialised anyway.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from the models): a migration keeps meaning what it meant.
SCOPES: dict[str, tuple[str, ...]] = {
    "acl": ("casbin_rules",),
    "principals": ("principals",),
    "tenants": ("tenants", "plans", "subscriptions"),
}
VERBS = ("INSERT", "UPDATE", "DELETE")


def _tables() -> list[tuple[str, str]]:
    return [(scope, table) for scope, tables in SCOPES.items() for table in tables]


def upgrade() -> None:
    table = op.create_table(
        "control_versions",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_control_versions")),
    )
    op.bulk_insert(table, [{"scope": scope, "version": 0} for scope in SCOPES])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION paybill_bump_control_version() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE control_versions SET version = version + 1 "
            "WHERE scope = TG_ARGV[0]; RETURN NULL; END $$"
        )
        for scope, name in _tables():
            op.execute(
                f"CREATE TRIGGER {name}_control_version BEFORE INSERT OR UPDATE OR DELETE "
                f"OR TRUNCATE ON {name} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION paybill_bump_control_version('{scope}')"
            )
        return
    for scope, name in _tables():
        for verb in VERBS:
            op.execute(_sqlite_trigger(scope, name, verb))


def _sqlite_trigger(scope: str, name: str, verb: str) -> str:
    bump = f"UPDATE control_versions SET version = version + 1 WHERE scope = '{scope}'"  # noqa: S608 (constants)
    trigger = f"{name}_control_version_{verb.lower()}"
    return f"CREATE TRIGGER {trigger} AFTER {verb} ON {name} BEGIN {bump}; END"


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for _, name in _tables():
            op.execute(f"DROP TRIGGER IF EXISTS {name}_control_version ON {name}")
        op.execute("DROP FUNCTION IF EXISTS paybill_bump_control_version()")
    else:
        for _, name in _tables():
            for verb in VERBS:
                op.execute(f"DROP TRIGGER IF EXISTS {name}_control_version_{verb.lower()}")
    op.drop_table("control_versions")
