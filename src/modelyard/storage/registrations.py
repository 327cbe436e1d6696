"""The models registered by ``POST /models`` (SageMaker's LoadModel), kept in the database.

A registration says which artifact a model name serves, so that a restarted server (or a
second server process) knows the models it was asked to host. Whether a model is *loaded*
is the model server's business, not this table's.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.exc import IntegrityError

from modelyard.errors import RegistrationExists
from modelyard.storage.database import Database
from modelyard.storage.schema import models

__all__ = ["ModelRegistration", "ModelRegistrations"]


@dataclass(frozen=True, kw_only=True)
class ModelRegistration:
    """A model name and the artifact it serves, as registered."""

    #: The model's name, unique: what ``/models/{name}`` and ``Target-Model`` refer to.
    name: str
    #: Where the artifact is: a key or URL of the object store (SageMaker's ``url``).
    url: str
    #: When the model was registered, timezone-aware UTC.
    created_at: datetime
    #: Per-model settings sent along with the registration, if any.
    settings: dict[str, Any] | None = None


class ModelRegistrations:
    """The repository of :class:`ModelRegistration`: one query per intent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, name: str, url: str, settings: dict[str, Any] | None = None) -> ModelRegistration:
        """Register ``name`` as serving ``url``.

        Raises :class:`~modelyard.errors.RegistrationExists` if the name is taken, even by
        a registration made at the same moment in another process.
        """
        registration = ModelRegistration(
            name=name, url=url, created_at=datetime.now(UTC), settings=settings
        )
        with self._db.begin() as connection:
            try:
                connection.execute(
                    insert(models).values(
                        name=registration.name,
                        url=registration.url,
                        created_at=registration.created_at,
                        settings=_encode(registration.settings),
                    )
                )
            except IntegrityError as exc:
                raise RegistrationExists(f"model {name!r} is already registered") from exc
        return registration

    def get(self, name: str) -> ModelRegistration | None:
        """The registration of ``name``, or ``None`` if there is none."""
        with self._db.begin() as connection:
            row = connection.execute(select(models).where(models.c.name == name)).one_or_none()
        return None if row is None else _registration(row)

    def list(self) -> builtins.list[ModelRegistration]:
        """Every registration, by name."""
        with self._db.begin() as connection:
            rows = connection.execute(select(models).order_by(models.c.name)).all()
        return [_registration(row) for row in rows]

    def remove(self, name: str) -> bool:
        """Forget the registration of ``name``; ``False`` if there was none."""
        with self._db.begin() as connection:
            result = connection.execute(delete(models).where(models.c.name == name))
        return result.rowcount > 0


def _encode(settings: dict[str, Any] | None) -> str | None:
    return None if settings is None else json.dumps(settings, sort_keys=True)


def _registration(row: Row[Any]) -> ModelRegistration:
    created_at: datetime = row.created_at
    # SQLite keeps no time zone: what was written is UTC. PostgreSQL answers in the
    # session's time zone.
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return ModelRegistration(
        name=row.name,
        url=row.url,
        created_at=created_at.astimezone(UTC),
        settings=None if row.settings is None else json.loads(row.settings),
    )
