"""Alembic environment: runs migrations on the connection handed over in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from grvtmm.store.tables import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported")
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through grvtmm.store.migrations (no connection given)")
    run_migrations(connection)


main()
