"""Functions registered by ``POST /functions``, kept in the database.

A registration says which Python callable a function name calls (``package.module:attr``),
with its timeout, environment variables and description, so that a restarted server (or
a second server process) calls the same code. Whether a worker has imported it is the
worker pool's business, not this table's.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.storage.database import Database
from modelyard.storage.listing import utc
from modelyard.storage.schema import functions

__all__ = ["FunctionRegistration", "FunctionRegistrations"]


@dataclass(frozen=True, kw_only=True, slots=True)
class FunctionRegistration:
    """A function as registered: its name, the callable it calls, and how."""

    #: The function's name, unique and case-sensitive (Lambda's ``FunctionName``).
    name: str
    #: The callable, ``package.module:attr`` (``attr`` may be dotted: ``Class.method``).
    handler: str
    #: Seconds an invocation may run before its worker is killed.
    timeout_s: float
    #: Environment variables set around each call.
    environment: Mapping[str, str] = field(default_factory=dict)
    #: What the function is for, as given.
    description: str = ""
    #: When the name was first registered, timezone-aware UTC.
    created_at: datetime
    #: When the registration last changed, timezone-aware UTC.
    updated_at: datetime


class FunctionRegistrations:
    """The repository of :class:`FunctionRegistration`: one query per intent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, registration: FunctionRegistration) -> tuple[FunctionRegistration, bool]:
        """Register ``registration``, or replace the registration of its name.

        Returns what is stored and whether the name is new. A replaced registration keeps
        its ``created_at``; two processes registering one new name at once both succeed,
        the later one replacing the earlier.
        """
        values = {
            "handler": registration.handler,
            "timeout_s": registration.timeout_s,
            "environment": json.dumps(dict(registration.environment), sort_keys=True),
            "description": registration.description,
            "updated_at": registration.updated_at,
        }
        with self._db.begin() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(
                        insert(functions).values(
                            name=registration.name, created_at=registration.created_at, **values
                        )
                    )
            except IntegrityError:
                pass  # the name is taken: replace its registration below
            else:
                return registration, True
            connection.execute(
                update(functions).where(functions.c.name == registration.name).values(**values)
            )
            created_at = connection.execute(
                select(functions.c.created_at).where(functions.c.name == registration.name)
            ).scalar_one()
        return replace(registration, created_at=utc(created_at)), False

    def get(self, name: str) -> FunctionRegistration | None:
        """The registration of ``name``, or ``None`` if there is none."""
        with self._db.read() as connection:
            row = connection.execute(
                select(functions).where(functions.c.name == name)
            ).one_or_none()
        return None if row is None else _registration(row)

    def page(
        self, *, after: str | None = None, limit: int = 50
    ) -> tuple[builtins.list[FunctionRegistration], str | None]:
        """Up to ``limit`` registrations by name, those after ``after`` if given.

        Returns them and the name to give as ``after`` for the next page (``None`` on the
        last page): keyset pages, so registrations made or removed between two pages
        neither repeat nor shift the rest.
        """
        statement = select(functions).order_by(functions.c.name).limit(limit + 1)
        if after is not None:
            statement = statement.where(functions.c.name > after)
        with self._db.read() as connection:
            rows = connection.execute(statement).all()
        found = [_registration(row) for row in rows[:limit]]
        return found, (found[-1].name if len(rows) > limit else None)

    def remove(self, name: str) -> bool:
        """Forget the registration of ``name``; ``False`` if there was none."""
        with self._db.begin() as connection:
            result = connection.execute(delete(functions).where(functions.c.name == name))
        return result.rowcount > 0


def _registration(row: Row[Any]) -> FunctionRegistration:
    return FunctionRegistration(
        name=row.name,
        handler=row.handler,
        timeout_s=row.timeout_s,
        environment=json.loads(row.environment),
        description=row.description,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )
