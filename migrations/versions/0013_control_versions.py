"""Control versions: one counter per scope of what decides a call, moved by triggers.

Any write to ``casbin_rules`` (scope acl), ``principals`` (principals) or ``tenants``,
``plans``, ``subscriptions`` (tenants) moves the scope's version in the writer's transaction,
whoever the writer is; servers compare it once per call to drop cached decisions.

PostgreSQL: a deferred constraint trigger, so the bump (once per scope and transaction) runs
at commit and the version row is locked only while the writer commits: writers holding rows
of these tables never wait on each other through it (an immediate bump would lock the row
for the rest of the transaction: a deadlock with any writer holding a row it needs, and a
queue of every writer of the scope). SQLite: row triggers; its writers are serialised anyway.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from the models): a migration keeps meaning what it meant.
SCOPES: dict[str, tuple[str, ...]] = {
    "acl": ("casbin_rules",),
    "principals": ("principals",),
    "tenants": ("tenants", "plans", "subscriptions"),
}
VERBS = ("INSERT", "UPDATE", "DELETE")
# Once per scope and transaction (a transaction-local setting remembers it): a bulk write of
# many rows bumps the version once, at commit.
BUMP_FUNCTION = """
CREATE FUNCTION paybill_bump_control_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    flag text := 'paybill.control_bumped_' || TG_ARGV[0];
BEGIN
    IF current_setting(flag, true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config(flag, 'yes', true);
        UPDATE control_versions SET version = version + 1 WHERE scope = TG_ARGV[0];
    END IF;
    RETURN NULL;
END $$
"""


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
        op.execute(BUMP_FUNCTION)
        for scope, name in _tables():
            # Deferred to commit: the version row is locked only while the writer commits,
            # so it never joins a lock cycle with the rows the transaction holds.
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {name}_control_version AFTER INSERT OR UPDATE "
                f"OR DELETE ON {name} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                f"EXECUTE FUNCTION paybill_bump_control_version('{scope}')"
            )
            op.execute(
                f"CREATE TRIGGER {name}_control_version_truncate AFTER TRUNCATE ON {name} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION paybill_bump_control_version('{scope}')"
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
            op.execute(f"DROP TRIGGER IF EXISTS {name}_control_version_truncate ON {name}")
        op.execute("DROP FUNCTION IF EXISTS paybill_bump_control_version()")
    else:
        for _, name in _tables():
            for verb in VERBS:
                op.execute(f"DROP TRIGGER IF EXISTS {name}_control_version_{verb.lower()}")
    op.drop_table("control_versions")
