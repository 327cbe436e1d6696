"""Endpoints (CreateEndpoint), kept in the database with the variants they serve.

An endpoint moves through its statuses by the transitions below, each one UPDATE that
names the statuses it may start from, so two requests (or two processes) cannot both
start an update, and a deployment finishing after a delete changes nothing. What an
endpoint is about to serve while Updating (a new config, or new weights and instance
counts) is kept beside what it serves (``pending``), so a restart can resume or roll back.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.storage.database import Database
from modelyard.storage.endpoint_configs import decode_document, encode_document
from modelyard.storage.listing import ListQuery, Page, fetch_page, name_key, utc
from modelyard.storage.sagemaker_models import ContainerMode
from modelyard.storage.schema import endpoints, tags
from modelyard.storage.tags import ResourceType, Tag, delete_resource_tags, insert_tags

__all__ = ["DeployedVariant", "Deployment", "Endpoint", "EndpointStatus", "Endpoints"]


class EndpointStatus(StrEnum):
    """Where an endpoint is in its life (the statuses of SageMaker modelyard uses)."""

    #: CreateEndpoint answered; its models are loading.
    CREATING = "Creating"
    #: Serving.
    IN_SERVICE = "InService"
    #: Serving its current variants while new ones (or new weights and counts) deploy.
    UPDATING = "Updating"
    #: Its creation failed (``failure_reason`` says why); it serves nothing.
    FAILED = "Failed"
    #: DeleteEndpoint answered; it no longer serves and is about to disappear.
    DELETING = "Deleting"


@dataclass(frozen=True, kw_only=True)
class DeployedVariant:
    """A variant as an endpoint serves it, with a copy of what its model was."""

    #: The variant's name.
    variant_name: str
    #: The SageMaker model it was deployed from.
    model_name: str
    #: That model's artifact (SingleModel) or prefix of artifacts (MultiModel), as the
    #: model server finds it (``s3://`` resolved to the object store).
    model_data_url: str
    #: One model or many.
    mode: ContainerMode
    #: The instance type asked for: recorded.
    instance_type: str | None
    #: Its share of the traffic now.
    current_weight: float
    #: The share asked for (differs from the current one while Updating).
    desired_weight: float
    #: Replicas serving it now.
    current_instance_count: int
    #: Replicas asked for.
    desired_instance_count: int

    def settled(self) -> DeployedVariant:
        """The variant once what was asked for is in place."""
        return replace(
            self,
            current_weight=self.desired_weight,
            current_instance_count=self.desired_instance_count,
        )

    def to_document(self) -> dict[str, Any]:
        """JSON-ready form, as the tables keep it."""
        return {
            "variant_name": self.variant_name,
            "model_name": self.model_name,
            "model_data_url": self.model_data_url,
            "mode": self.mode.value,
            "instance_type": self.instance_type,
            "current_weight": self.current_weight,
            "desired_weight": self.desired_weight,
            "current_instance_count": self.current_instance_count,
            "desired_instance_count": self.desired_instance_count,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DeployedVariant:
        """Read a document written by :meth:`to_document`."""
        return cls(
            variant_name=document["variant_name"],
            model_name=document["model_name"],
            model_data_url=document["model_data_url"],
            mode=ContainerMode(document["mode"]),
            instance_type=document.get("instance_type"),
            current_weight=float(document["current_weight"]),
            desired_weight=float(document["desired_weight"]),
            current_instance_count=int(document["current_instance_count"]),
            desired_instance_count=int(document["desired_instance_count"]),
        )


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """What an endpoint serves, or is about to: a config's variants and data capture."""

    #: The endpoint config it comes from.
    config_name: str
    #: The variants.
    variants: tuple[DeployedVariant, ...]
    #: The config's ``DataCaptureConfig`` document, if any.
    data_capture_config: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """An endpoint as the database knows it."""

    #: The name, as given (unique whatever its case).
    name: str
    #: Where it is in its life.
    status: EndpointStatus
    #: What it serves (what it will serve once created, while Creating).
    current: Deployment
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: When its status or variants last changed, timezone-aware UTC.
    last_modified_at: datetime
    #: Why its creation or last update failed.
    failure_reason: str | None = None
    #: What it is deploying while Updating.
    pending: Deployment | None = None


class Endpoints:
    """The repository of :class:`Endpoint`: one query per intent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, endpoint: Endpoint, tags: Sequence[Tag] = ()) -> bool:
        """Record ``endpoint`` with its tags; ``False`` if the name is taken (in any case)."""
        with self._db.begin() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(
                        insert(endpoints).values(
                            key=name_key(endpoint.name),
                            name=endpoint.name,
                            status=endpoint.status.value,
                            failure_reason=endpoint.failure_reason,
                            created_at=endpoint.created_at,
                            last_modified_at=endpoint.last_modified_at,
                            **_current(endpoint.current),
                            **_pending(endpoint.pending),
                        )
                    )
            except IntegrityError:
                return False
            insert_tags(connection, ResourceType.ENDPOINT, endpoint.name, tags)
        return True

    def get(self, name: str) -> Endpoint | None:
        """The endpoint called ``name`` (in any case), or ``None``."""
        with self._db.read() as connection:
            row = connection.execute(
                select(endpoints).where(endpoints.c.key == name_key(name))
            ).one_or_none()
        return None if row is None else _endpoint(row)

    def list(self, query: ListQuery) -> Page[Endpoint]:
        """A page of endpoints (ListEndpoints)."""
        with self._db.read() as connection:
            return fetch_page(connection, endpoints, query, _endpoint)

    def count(self) -> int:
        """How many endpoints there are."""
        with self._db.read() as connection:
            found: int = connection.execute(
                select(func.count()).select_from(endpoints)
            ).scalar_one()
        return found

    def with_status(self, statuses: Collection[EndpointStatus]) -> builtins.list[Endpoint]:
        """Every endpoint in one of ``statuses``, by name (to resume them at start)."""
        with self._db.read() as connection:
            rows = connection.execute(
                select(endpoints)
                .where(endpoints.c.status.in_([s.value for s in statuses]))
                .order_by(endpoints.c.key)
            ).all()
        return [_endpoint(row) for row in rows]

    def tagged(self, tag_key: str) -> builtins.list[tuple[Endpoint, str]]:
        """Every endpoint that has a tag ``tag_key``, with the tag's value, by name."""
        with self._db.read() as connection:
            rows = connection.execute(
                select(endpoints, tags.c.value.label("tag_value"))
                .join(
                    tags,
                    and_(
                        tags.c.resource_type == ResourceType.ENDPOINT.value,
                        tags.c.resource_key == endpoints.c.key,
                    ),
                )
                .where(tags.c.key == tag_key)
                .order_by(endpoints.c.key)
            ).all()
        return [(_endpoint(row), row.tag_value) for row in rows]

    def begin_update(self, name: str, pending: Deployment) -> Endpoint | None:
        """InService → Updating towards ``pending``; ``None`` if not InService (or gone)."""
        return self._transition(
            name,
            {EndpointStatus.IN_SERVICE},
            status=EndpointStatus.UPDATING.value,
            failure_reason=None,
            **_pending(pending),
        )

    def complete(self, name: str, deployment: Deployment) -> Endpoint | None:
        """Creating or Updating → InService, serving ``deployment``; ``None`` if neither."""
        return self._transition(
            name,
            {EndpointStatus.CREATING, EndpointStatus.UPDATING},
            status=EndpointStatus.IN_SERVICE.value,
            failure_reason=None,
            **_current(deployment),
            **_pending(None),
        )

    def roll_back(self, name: str, reason: str) -> Endpoint | None:
        """Updating → InService as it was before, saying why; ``None`` if not Updating."""
        return self._transition(
            name,
            {EndpointStatus.UPDATING},
            status=EndpointStatus.IN_SERVICE.value,
            failure_reason=reason,
            **_pending(None),
        )

    def fail(self, name: str, reason: str) -> Endpoint | None:
        """Creating → Failed, saying why; ``None`` if not Creating."""
        return self._transition(
            name,
            {EndpointStatus.CREATING},
            status=EndpointStatus.FAILED.value,
            failure_reason=reason,
        )

    def begin_delete(self, name: str) -> Endpoint | None:
        """Any status → Deleting; ``None`` if there is no such endpoint."""
        return self._transition(
            name, set(EndpointStatus), status=EndpointStatus.DELETING.value, **_pending(None)
        )

    def remove(self, name: str) -> bool:
        """Delete the endpoint and its tags; ``False`` if there was none."""
        with self._db.begin() as connection:
            result = connection.execute(delete(endpoints).where(endpoints.c.key == name_key(name)))
            if result.rowcount == 0:
                return False
            delete_resource_tags(connection, ResourceType.ENDPOINT, name)
        return True

    def _transition(
        self, name: str, sources: Collection[EndpointStatus], **values: Any
    ) -> Endpoint | None:
        key = name_key(name)
        with self._db.begin() as connection:
            result = connection.execute(
                update(endpoints)
                .where(
                    endpoints.c.key == key,
                    endpoints.c.status.in_([s.value for s in sources]),
                )
                .values(last_modified_at=datetime.now(UTC), **values)
            )
            if result.rowcount == 0:
                return None
            row = connection.execute(select(endpoints).where(endpoints.c.key == key)).one()
        return _endpoint(row)


def _current(deployment: Deployment) -> dict[str, Any]:
    return {
        "config_name": deployment.config_name,
        "variants": _encode_variants(deployment.variants),
        "data_capture_config": encode_document(deployment.data_capture_config),
    }


def _pending(deployment: Deployment | None) -> dict[str, Any]:
    if deployment is None:
        return {
            "pending_config_name": None,
            "pending_variants": None,
            "pending_data_capture_config": None,
        }
    return {
        "pending_config_name": deployment.config_name,
        "pending_variants": _encode_variants(deployment.variants),
        "pending_data_capture_config": encode_document(deployment.data_capture_config),
    }


def _encode_variants(variants: Sequence[DeployedVariant]) -> str:
    return json.dumps([v.to_document() for v in variants], sort_keys=True)


def _decode_variants(text: str) -> tuple[DeployedVariant, ...]:
    return tuple(DeployedVariant.from_document(d) for d in json.loads(text))


def _endpoint(row: Row[Any]) -> Endpoint:
    pending = None
    if row.pending_config_name is not None:
        pending = Deployment(
            config_name=row.pending_config_name,
            variants=_decode_variants(row.pending_variants or "[]"),
            data_capture_config=decode_document(row.pending_data_capture_config),
        )
    return Endpoint(
        name=row.name,
        status=EndpointStatus(row.status),
        current=Deployment(
            config_name=row.config_name,
            variants=_decode_variants(row.variants),
            data_capture_config=decode_document(row.data_capture_config),
        ),
        created_at=utc(row.created_at),
        last_modified_at=utc(row.last_modified_at),
        failure_reason=row.failure_reason,
        pending=pending,
    )
