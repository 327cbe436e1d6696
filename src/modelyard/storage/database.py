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

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from modelyard.errors import DatabaseError, ModelyardError

__all__ = ["MIGRATIONS", "Database", "SqliteSynchronous"]

#: SQLite's ``PRAGMA synchronous`` in WAL mode. ``NORMAL``: a commit survives the process
#: being killed, and the file is never corrupted, but a power cut may lose the last
#: commits. ``FULL``: it survives a power cut too, at an fsync per commit.
SqliteSynchronous = Literal["FULL", "NORMAL"]

#: The execution option that marks a read-only transaction (Database.read).
_READ_ONLY = "modelyard_read_only"

#: The Alembic script folder, shipped inside the package.
MIGRATIONS = Path(__file__).with_name("migrations")

#: How long a SQLite writer waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Suffix of the file beside a SQLite database whose ``flock`` is held while migrating.
SQLITE_MIGRATION_LOCK_SUFFIX = ".migrate.lock"

#: Key of the PostgreSQL advisory lock held while migrating, so that several processes
#: starting at once upgrade the schema one after the other (any constant would do).
_MIGRATION_LOCK = 0x6D6F64656C79  # "modely"


class Database:
    """One database, reached through a SQLAlchemy engine; SQLite file or PostgreSQL.

    ``postgresql://`` URLs use psycopg 3. SQLite files run in WAL mode, so readers never
    block the writer, with a busy timeout, so concurrent writers from other processes wait
    rather than fail; their parent folder is created.
    """

    def __init__(self, url: str, *, sqlite_synchronous: SqliteSynchronous = "NORMAL") -> None:
        try:
            self.url: URL = _with_driver(make_url(url))
        except ArgumentError as exc:
            raise DatabaseError(f"{url!r} is not a database URL: {exc}") from exc
        if self.url.get_backend_name() == "sqlite":
            self.engine: Engine = _sqlite_engine(self.url, sqlite_synchronous)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``, for the rare query that differs."""
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a transaction that only reads (a consistent snapshot).

        On SQLite it does not take the write lock, so reads neither wait for writers nor
        hold them up; on PostgreSQL it is :meth:`begin`. Raises
        :class:`~modelyard.errors.DatabaseError` as :meth:`begin` does.
        """
        try:
            with (
                self.engine.connect().execution_options(**{_READ_ONLY: True}) as connection,
                connection.begin(),
            ):
                yield connection
        except SQLAlchemyError as exc:
            raise DatabaseError(f"database operation failed on {self!r}: {_reason(exc)}") from exc

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

        Safe to call from several processes at once: they take turns. On PostgreSQL an
        advisory lock orders them. On a SQLite file an exclusive ``flock`` on the file
        ``<database file>.migrate.lock`` beside it does (it is left there), held from before
        the first connection to after the commit: waiting processes wait on it rather than
        on SQLite's write lock, so a long migration cannot outlast their busy timeout, and
        the first connections to a new file, which switch it to WAL, come one at a time.
        In-memory SQLite needs no lock.
        """
        file = _sqlite_file(self.url) if self.dialect == "sqlite" else None
        lock: AbstractContextManager[None] = (
            _file_lock(_migration_lock_path(file)) if file is not None else nullcontext()
        )
        with lock, self.begin() as connection:
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


def _sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names, ``None`` for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        # A URI filename (``file:NAME`` or ``file:///PATH``); SQLAlchemy keeps its query
        # (``mode``, ``uri``) in url.query, so only the path is left here.
        path = unquote(urlsplit(database).path)
        return None if path in ("", ":memory:") else Path(path)
    return Path(database)


def _sqlite_engine(url: URL, synchronous: SqliteSynchronous) -> Engine:
    database = url.database or ""
    file = _sqlite_file(url)
    if file is not None and not database.startswith("file:"):
        file.parent.mkdir(parents=True, exist_ok=True)
    # The busy timeout goes to sqlite3.connect, so it is set before SQLAlchemy or the
    # listener below run a single statement on the new connection (a timeout in the URL's
    # query wins over ours).
    connect_args: dict[str, Any] = (
        {} if "timeout" in url.query else {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )
    engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # sqlite3 begins transactions lazily, at the first write and never for DDL; we
        # take over (see the "begin" listener), as SQLAlchemy's SQLite docs recommend.
        dbapi_connection.isolation_level = None
        _switch_to_wal(dbapi_connection)
        dbapi_connection.execute(f"PRAGMA synchronous = {synchronous}")
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front, waiting up to the busy timeout. A
        # deferred transaction that reads and then writes fails at once with "database is
        # locked" if another process wrote in between: the busy timeout cannot help it.
        # A transaction that only reads (Database.read) needs no write lock: in WAL mode
        # it reads a snapshot while a writer writes.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _switch_to_wal(connection: sqlite3.Connection) -> None:
    """Put the database in WAL mode (a no-op once it is), waiting for others doing the same.

    The busy timeout does not cover this. Switching a file from the rollback journal it
    starts with to WAL reads its header, then upgrades to a write; when another connection
    holds the write lock (typically one doing the same switch, as processes start together
    on a new file), SQLite fails the upgrade at once with "database is locked" rather than
    wait while holding a read lock, which could deadlock. The read lock is gone by then,
    so we retry, for as long as the busy timeout: the other switch is usually done by the
    next try, and the file is then in WAL mode already.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # or an extended BUSY_*
            if not busy or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 0.1)


def _migration_lock_path(file: Path) -> Path:
    """The lock file held while migrating the SQLite database ``file``."""
    return file.with_name(file.name + SQLITE_MIGRATION_LOCK_SUFFIX)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing), waiting for it as long as
    it takes, like PostgreSQL's advisory lock.

    The file is never removed: a process could otherwise lock a file that another has
    just unlinked and replaced, and two would hold "the" lock at once. ``flock`` locks
    belong to the open file, so threads of one process take turns, too, and the lock is
    released if the process dies.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise DatabaseError(f"cannot open the migration lock {str(path)!r}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


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
