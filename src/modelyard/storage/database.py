"""The database: a SQLAlchemy engine on SQLite or PostgreSQL, and its migrations.

    db = Database("sqlite:////var/lib/modelyard/modelyard.db")   # or postgresql://…
    db.migrate()
    with db.begin() as connection:
        connection.execute(...)

Repositories (one module per aggregate, e.g. :mod:`modelyard.storage.registrations`) take a
``Database`` and run their queries inside :meth:`Database.begin`, which translates what
SQLAlchemy raises into :class:`~modelyard.errors.DatabaseError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from modelyard.errors import DatabaseError, ModelyardError

__all__ = ["MIGRATIONS", "Database"]

#: The Alembic script folder, shipped inside the package.
MIGRATIONS = Path(__file__).with_name("migrations")

#: How long a SQLite writer waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Key of the PostgreSQL advisory lock held while migrating, so that several processes
#: starting at once upgrade the schema one after the other (any constant would do).
_MIGRATION_LOCK = 0x6D6F64656C79  # "modely"


class Database:
    """One database, reached through a SQLAlchemy engine; SQLite file or PostgreSQL.

    ``postgresql://`` URLs use psycopg 3. SQLite files run in WAL mode, so readers never
    block the writer, with a busy timeout, so concurrent writers from other processes wait
    rather than fail; their parent folder is created.
    """

    def __init__(self, url: str) -> None:
        try:
            self.url: URL = _with_driver(make_url(url))
        except ArgumentError as exc:
            raise DatabaseError(f"{url!r} is not a database URL: {exc}") from exc
        if self.url.get_backend_name() == "sqlite":
            self.engine: Engine = _sqlite_engine(self.url)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``, for the rare query that differs."""
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on exit, rolled back on error.

        Raises :class:`~modelyard.errors.DatabaseError` for anything SQLAlchemy raises;
        repositories catch the specific errors they expect (``IntegrityError``) inside.
        """
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise DatabaseError(f"database operation failed on {self!r}: {_reason(exc)}") from exc

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (default: the latest); a no-op when there.

        Safe to call from several processes at once: on PostgreSQL an advisory lock makes
        them take turns, on SQLite the write lock of the transaction does.
        """
        with self.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            config = _alembic_config()
            # env.py runs the migrations on this connection, inside this transaction.
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, revision)
            except (SQLAlchemyError, ModelyardError):
                raise
            except Exception as exc:
                raise DatabaseError(f"cannot migrate {self!r} to {revision!r}: {exc}") from exc

    def current_revision(self) -> str | None:
        """The migration the database is at, ``None`` if it was never migrated."""
        with self.begin() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head_revision() -> str:
        """The latest migration shipped with this version of modelyard."""
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        if head is None:  # only if the migrations folder lost its files
            raise DatabaseError(f"no migrations found in {str(MIGRATIONS)!r}")
        return head

    def close(self) -> None:
        """Close the pooled connections; the object stays usable and reconnects on demand."""
        self.engine.dispose()


def _with_driver(url: URL) -> URL:
    """Pick the drivers we ship for: psycopg 3 for PostgreSQL (SQLAlchemy assumes psycopg2)."""
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    if not in_memory and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # sqlite3 begins transactions lazily, at the first write and never for DDL; we
        # take over (see the "begin" listener), as SQLAlchemy's SQLite docs recommend.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The busy timeout first: switching to WAL itself needs the lock.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front, waiting up to the busy timeout. A
        # deferred transaction that reads and then writes fails at once with "database is
        # locked" if another process wrote in between: the busy timeout cannot help it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _alembic_config() -> Config:
    """The Alembic configuration, built in code: no alembic.ini is needed at run time."""
    config = Config()
    # Config values go through configparser interpolation: a '%' in the path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config


def _reason(exc: SQLAlchemyError) -> str:
    """The database's own words, without SQLAlchemy's SQL echo and background link."""
    original = getattr(exc, "orig", None)
    return f"{type(original).__name__}: {original}".strip() if original else str(exc)
