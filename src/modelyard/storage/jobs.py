"""Jobs (``POST /create-job``), kept in the database beside the execution that runs each.

A job row is written in the same transaction as its execution's first event
(:meth:`Jobs.insert_on` is handed to the workflows area's start), so no job is ever left
without an execution and no execution of the jobs machine without its job. What a job
has come to (its status, its results) is its execution's: the row keeps only what the
execution does not know.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, or_, select

from modelyard.storage.database import Database
from modelyard.storage.listing import utc
from modelyard.storage.schema import jobs

__all__ = ["Job", "Jobs"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """A job as created."""

    #: Its id (a UUID).
    id: str
    #: Who created it (``None`` when the jobs API is open, on loopback).
    owner: str | None
    #: The categories it fans out to, as asked.
    categories: tuple[str, ...]
    #: The content type of its data.
    content_type: str
    #: Where its data is, in the object store.
    input_key: str
    #: The ARN of the execution that runs it.
    execution_arn: str
    #: When it was created, timezone-aware UTC.
    created_at: datetime


class Jobs:
    """The repository of :class:`Job`: one query per intent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def insert_on(connection: Connection, job: Job) -> None:
        """Insert ``job`` in the caller's transaction (the one starting its execution)."""
        connection.execute(
            insert(jobs).values(
                id=job.id,
                owner=job.owner,
                categories=json.dumps(list(job.categories)),
                content_type=job.content_type,
                input_key=job.input_key,
                execution_arn=job.execution_arn,
                created_at=job.created_at,
            )
        )

    def get(self, job_id: str) -> Job | None:
        """The job ``job_id``, or ``None``."""
        with self._db.read() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).one_or_none()
        return None if row is None else _job(row)

    def list(
        self,
        *,
        owner: str | None,
        everyone: bool,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> tuple[builtins.list[Job], bool]:
        """Jobs newest first (only ``owner``'s unless ``everyone``), after the job ``after``
        names (its creation time and id); and whether more follow."""
        conditions: list[Any] = []
        if not everyone:
            conditions.append(jobs.c.owner.is_(None) if owner is None else jobs.c.owner == owner)
        if after is not None:
            created, job_id = after
            conditions.append(
                or_(
                    jobs.c.created_at < created,
                    and_(jobs.c.created_at == created, jobs.c.id < job_id),
                )
            )
        query = (
            select(jobs)
            .where(*conditions)
            .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
            .limit(limit + 1)
        )
        with self._db.read() as connection:
            rows: Sequence[Row[Any]] = connection.execute(query).all()
        return [_job(row) for row in rows[:limit]], len(rows) > limit


def _job(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        owner=row.owner,
        categories=tuple(json.loads(row.categories)),
        content_type=row.content_type,
        input_key=row.input_key,
        execution_arn=row.execution_arn,
        created_at=utc(row.created_at),
    )
