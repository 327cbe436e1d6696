"""SageMaker models (CreateModel), kept in the database.

A SageMaker model says where an endpoint's artifact is (``ModelDataUrl``), whether it is
one model or a prefix of many (``Mode``), and records what modelyard does not use (the
container ``Image``, the ``ExecutionRoleArn``) so that Describe answers what was given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from modelyard.storage.database import Database
from modelyard.storage.listing import ListQuery, Page, fetch_page, name_key, utc
from modelyard.storage.schema import sagemaker_models
from modelyard.storage.tags import ResourceType, Tag, delete_resource_tags, insert_tags

__all__ = ["ContainerDefinition", "ContainerMode", "SageMakerModel", "SageMakerModels"]


class ContainerMode(StrEnum):
    """Whether a container serves one model or many (SageMaker's ``ContainerMode``)."""

    #: ``ModelDataUrl`` is one model's artifact.
    SINGLE_MODEL = "SingleModel"
    #: ``ModelDataUrl`` is a prefix; each request names its model (``TargetModel``).
    MULTI_MODEL = "MultiModel"


@dataclass(frozen=True, kw_only=True)
class ContainerDefinition:
    """One container of a model, as CreateModel gave it."""

    #: The artifact (``Mode`` SingleModel) or the prefix of artifacts (MultiModel).
    model_data_url: str | None = None
    #: The container image: recorded, not run (modelyard's workers host the model).
    image: str | None = None
    #: Environment variables for the model.
    environment: Mapping[str, str] = field(default_factory=dict)
    #: One model or many.
    mode: ContainerMode = ContainerMode.SINGLE_MODEL
    #: The container's host name, recorded.
    container_hostname: str | None = None

    def to_document(self) -> dict[str, Any]:
        """The ``ContainerDefinition`` document of SageMaker's API."""
        document: dict[str, Any] = {"Mode": self.mode.value}
        if self.container_hostname is not None:
            document["ContainerHostname"] = self.container_hostname
        if self.image is not None:
            document["Image"] = self.image
        if self.model_data_url is not None:
            document["ModelDataUrl"] = self.model_data_url
        if self.environment:
            document["Environment"] = dict(self.environment)
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ContainerDefinition:
        """Read a document written by :meth:`to_document`."""
        return cls(
            model_data_url=document.get("ModelDataUrl"),
            image=document.get("Image"),
            environment=dict(document.get("Environment") or {}),
            mode=ContainerMode(document.get("Mode", ContainerMode.SINGLE_MODEL.value)),
            container_hostname=document.get("ContainerHostname"),
        )


@dataclass(frozen=True, kw_only=True)
class SageMakerModel:
    """A model as CreateModel recorded it."""

    #: The name, as given (unique whatever its case).
    name: str
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: ``PrimaryContainer``, when given.
    primary_container: ContainerDefinition | None = None
    #: ``Containers``, when given instead.
    containers: tuple[ContainerDefinition, ...] = ()
    #: The IAM role SageMaker would assume: recorded, not used.
    execution_role_arn: str | None = None

    @property
    def container(self) -> ContainerDefinition | None:
        """The container that serves the model: the primary one, else the first."""
        if self.primary_container is not None:
            return self.primary_container
        return self.containers[0] if self.containers else None


class SageMakerModels:
    """The repository of :class:`SageMakerModel`: one query per intent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, model: SageMakerModel, tags: Sequence[Tag] = ()) -> bool:
        """Record ``model`` with its tags; ``False`` if the name is taken (in any case)."""
        with self._db.begin() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(
                        insert(sagemaker_models).values(
                            key=name_key(model.name),
                            name=model.name,
                            created_at=model.created_at,
                            execution_role_arn=model.execution_role_arn,
                            primary_container=_encode_container(model.primary_container),
                            containers=_encode_containers(model.containers),
                        )
                    )
            except IntegrityError:
                return False
            insert_tags(connection, ResourceType.MODEL, model.name, tags)
        return True

    def get(self, name: str) -> SageMakerModel | None:
        """The model called ``name`` (in any case), or ``None``."""
        with self._db.read() as connection:
            row = connection.execute(
                select(sagemaker_models).where(sagemaker_models.c.key == name_key(name))
            ).one_or_none()
        return None if row is None else _model(row)

    def list(self, query: ListQuery) -> Page[SageMakerModel]:
        """A page of models (ListModels)."""
        with self._db.read() as connection:
            return fetch_page(connection, sagemaker_models, query, _model)

    def count(self) -> int:
        """How many models there are."""
        with self._db.read() as connection:
            found: int = connection.execute(
                select(func.count()).select_from(sagemaker_models)
            ).scalar_one()
        return found

    def remove(self, name: str) -> bool:
        """Delete the model and its tags; ``False`` if there was none."""
        with self._db.begin() as connection:
            result = connection.execute(
                delete(sagemaker_models).where(sagemaker_models.c.key == name_key(name))
            )
            if result.rowcount == 0:
                return False
            delete_resource_tags(connection, ResourceType.MODEL, name)
        return True


def _encode_container(container: ContainerDefinition | None) -> str | None:
    return None if container is None else json.dumps(container.to_document(), sort_keys=True)


def _encode_containers(containers: Sequence[ContainerDefinition]) -> str | None:
    if not containers:
        return None
    return json.dumps([c.to_document() for c in containers], sort_keys=True)


def _model(row: Row[Any]) -> SageMakerModel:
    return SageMakerModel(
        name=row.name,
        created_at=utc(row.created_at),
        primary_container=(
            None
            if row.primary_container is None
            else ContainerDefinition.from_document(json.loads(row.primary_container))
        ),
        containers=tuple(
            ContainerDefinition.from_document(document)
            for document in json.loads(row.containers or "[]")
        ),
        execution_role_arn=row.execution_role_arn,
    )
