"""What the repositories built on SQLAlchemy Core share: one transaction per query.

A repository subclasses :class:`Repository` and names each of its queries for its intent;
these helpers run a statement in a transaction of its own (a read-only one for selects)
and turn rows into records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Delete, Insert, Row, Select, Update
from sqlalchemy.exc import IntegrityError

from modelyard.storage.database import Database

__all__ = ["Repository", "insert_new"]

T = TypeVar("T")


class Repository:
    """A repository over ``db``, with its one-transaction-per-query helpers."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _add(self, statement: Insert) -> bool:
        """Run the insert ``statement``; ``False`` if a constraint refused it."""
        with self._db.begin() as connection:
            return insert_new(connection, statement)

    def _change(self, statement: Update | Delete) -> int:
        """Run the update or delete ``statement``; how many rows it matched."""
        with self._db.begin() as connection:
            return connection.execute(statement).rowcount

    def _one(self, statement: Select[Any], to_record: Callable[[Row[Any]], T]) -> T | None:
        """The record of the first row ``statement`` selects, ``None`` if none."""
        with self._db.read() as connection:
            row = connection.execute(statement).first()
        return None if row is None else to_record(row)

    def _all(self, statement: Select[Any], to_record: Callable[[Row[Any]], T]) -> list[T]:
        """The records of the rows ``statement`` selects, in its order."""
        with self._db.read() as connection:
            rows = connection.execute(statement).all()
        return [to_record(row) for row in rows]

    def _page(
        self,
        statement: Select[Any],
        key: Column[str],
        after: str | None,
        limit: int,
        to_record: Callable[[Row[Any]], T],
    ) -> tuple[list[T], str | None]:
        """The page of ``statement``'s rows ordered by ``key``, after ``after``, and the
        ``after`` of the next page (``None`` on the last). Raises :class:`ValueError` if
        ``limit`` is below 1."""
        if limit < 1:
            raise ValueError(f"a page holds at least one record, not {limit}")
        if after is not None:
            statement = statement.where(key > after)
        # One row more than asked tells whether another page follows.
        with self._db.read() as connection:
            rows = connection.execute(statement.order_by(key).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [to_record(row) for row in rows], (getattr(rows[-1], key.name) if more else None)


def insert_new(connection: Connection, statement: Insert) -> bool:
    """Run the insert ``statement``; ``False`` if a constraint refused it (a key taken, a
    foreign key missing). The savepoint keeps the caller's transaction usable after."""
    try:
        with connection.begin_nested():
            connection.execute(statement)
    except IntegrityError:
        return False
    return True
