"""Alembic environment: runs on the connection that `storage.db.migrate` opened; reads no global settings."""

from alembic import context
from sqlalchemy.engine import Connection


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _connection() -> Connection:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("Run migrations with storage.db.migrate(url): it passes the connection to alembic.")
    return connection


_run(_connection())
