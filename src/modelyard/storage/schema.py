"""The database schema of modelyard, as SQLAlchemy Core tables.

This is the schema the latest migration produces; the migrations in
``modelyard/storage/migrations`` are what change a database, and a test checks that the
two agree. Change both together: edit a table here, then add a revision.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func

__all__ = ["metadata", "models"]

#: Constraint names are spelled out so migrations can refer to them on every database.
metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

#: Models registered by ``POST /models`` (SageMaker's LoadModel), so a restart reloads them.
models = Table(
    "models",
    metadata,
    Column("name", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # JSON text rather than a JSON column: the same on SQLite and PostgreSQL, and never
    # queried into.
    Column("settings", Text, nullable=True),
)
