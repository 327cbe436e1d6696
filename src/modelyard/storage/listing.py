"""Listing queries the repositories share: filters, sort order and keyset pages.

SageMaker's List operations filter by name and creation time, sort by one column and
page with an opaque token. A page here ends with a :class:`Cursor`, the sort value and key
of its last row; the next page starts strictly after it (keyset pagination), so rows
created or deleted between two pages neither repeat nor shift the rest. Encoding the
cursor into a token is the protocol's business, not the database's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Connection, Row, Select, Table, and_, func, or_

__all__ = ["Cursor", "ListQuery", "Page", "fetch_page", "name_key", "utc"]

T = TypeVar("T")

#: Where a page ended: the last row's sort value, then its key (names are unique).
Cursor = tuple[str | datetime, str]


@dataclass(frozen=True, kw_only=True)
class ListQuery:
    """Which rows of a List operation, in which order, from where.

    >>> ListQuery(name_contains="churn", sort_by="created_at", descending=True, limit=10)
    """

    #: Only names containing this, whatever the case.
    name_contains: str | None = None
    #: Only rows created strictly before this moment.
    created_before: datetime | None = None
    #: Only rows created strictly after this moment.
    created_after: datetime | None = None
    #: Only rows last modified strictly before this moment (tables that track it).
    modified_before: datetime | None = None
    #: Only rows last modified strictly after this moment (tables that track it).
    modified_after: datetime | None = None
    #: Only rows whose status is this (tables that have one).
    status: str | None = None
    #: Column to sort by: ``name``, ``created_at`` or ``status``.
    sort_by: str = "created_at"
    #: Largest first.
    descending: bool = False
    #: Start after this row (the previous page's cursor).
    after: Cursor | None = None
    #: Rows at most.
    limit: int = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing."""

    #: The rows of this page, in order.
    items: list[T]
    #: Where the next page starts; ``None`` on the last page.
    next: Cursor | None


def fetch_page(
    connection: Connection,
    table: Table,
    query: ListQuery,
    to_record: Callable[[Row[Any]], T],
    *,
    where: Sequence[ColumnElement[bool]] = (),
) -> Page[T]:
    """Run ``query`` over ``table`` (which has ``key``, ``name`` and ``created_at``)."""
    columns = table.c
    sort = columns[query.sort_by]
    conditions = list(where)
    if query.name_contains:
        conditions.append(
            func.lower(columns.name).contains(query.name_contains.lower(), autoescape=True)
        )
    if query.created_before is not None:
        conditions.append(columns.created_at < utc(query.created_before))
    if query.created_after is not None:
        conditions.append(columns.created_at > utc(query.created_after))
    if query.modified_before is not None:
        conditions.append(columns.last_modified_at < utc(query.modified_before))
    if query.modified_after is not None:
        conditions.append(columns.last_modified_at > utc(query.modified_after))
    if query.status is not None:
        conditions.append(columns.status == query.status)
    if query.after is not None:
        value, key = query.after
        if isinstance(value, datetime):
            value = utc(value)
        # (sort, key) > (value, key) spelled out: row-value comparison is not portable.
        if query.descending:
            conditions.append(or_(sort < value, and_(sort == value, columns.key < key)))
        else:
            conditions.append(or_(sort > value, and_(sort == value, columns.key > key)))
    order = (sort.desc(), columns.key.desc()) if query.descending else (sort, columns.key)
    statement: Select[Any] = (
        table.select().where(*conditions).order_by(*order).limit(query.limit + 1)
    )
    rows = connection.execute(statement).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor: Cursor | None = None
    if more:
        last = rows[-1]
        raw = getattr(last, query.sort_by)
        cursor = (utc(raw) if isinstance(raw, datetime) else raw, last.key)
    return Page([to_record(row) for row in rows], cursor)


def utc(moment: datetime) -> datetime:
    """``moment`` as timezone-aware UTC, whatever the database answered.

    SQLite keeps no time zone (what was written is UTC); PostgreSQL answers in the
    session's time zone.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def name_key(name: str) -> str:
    """The primary key of a named resource: SageMaker names are unique whatever their case."""
    return name.lower()
