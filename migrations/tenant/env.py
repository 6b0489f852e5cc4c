"""Alembic environment of the tenant schema: run by paybill.server.executors.dataplane.migrate only.

The runner passes the connection and the target schema (PostgreSQL; None on SQLite). The
version table lives in the target schema, so each tenant schema/database migrates alone.
"""

from alembic import context

from paybill.server.executors.dataplane.schema import tenant_metadata

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run tenant migrations through paybill.server.executors.dataplane.migrate"
        )
    schema = config.attributes.get("schema")
    context.configure(
        connection=connection,
        target_metadata=tenant_metadata,
        version_table="tenant_schema_version",
        version_table_schema=schema,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
