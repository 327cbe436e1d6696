"""Alembic environment of modelyard: runs the migrations on the connection it is given.

:meth:`modelyard.storage.database.Database.migrate` puts its connection, already in a
transaction, in ``config.attributes["connection"]``. Without one (the ``alembic`` command
line with ``sqlalchemy.url`` set), a connection is opened from the URL; in offline mode
(``--sql``) the SQL is printed instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from modelyard.storage.database import Database
from modelyard.storage.schema import metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: Alembic copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    # Already in a transaction (Database.migrate's): Alembic joins it.
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    database = Database(config.get_main_option("sqlalchemy.url") or "")
    try:
        with database.begin() as connection:
            run_on(connection)
    finally:
        database.close()


main()
