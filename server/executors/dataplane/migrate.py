"""Tenant-schema migrations, one alembic target per schema (PostgreSQL) or file (SQLite)."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from paybill.server.store.migrate import ALEMBIC_LOCK

VERSION_TABLE = "tenant_schema_version"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("paybill.migrations.tenant")))
    return config


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def upgrade(connection: Connection, schema: str | None, revision: str = "head") -> None:
    """Migrate the tenant tables in ``schema`` (created if missing) to ``revision``."""
    with ALEMBIC_LOCK:
        command.upgrade(_prepared(connection, schema), revision)


def downgrade(connection: Connection, schema: str | None, revision: str) -> None:
    with ALEMBIC_LOCK:
        command.downgrade(_prepared(connection, schema), revision)


def _prepared(connection: Connection, schema: str | None) -> Config:
    config = _config()
    if schema is not None:
        # Tenants sharing the pool schema may be onboarded at once: one migrator at a time.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
    config.attributes.update(connection=connection, schema=schema)
    return config


def current(connection: Connection, schema: str | None) -> str | None:
    options = {"version_table": VERSION_TABLE, "version_table_schema": schema}
    return MigrationContext.configure(connection, opts=options).get_current_revision()
