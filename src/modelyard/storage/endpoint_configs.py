"""Endpoint configurations (CreateEndpointConfig), kept in the database.

A configuration is immutable once created: which models serve as which variants, with
what weight and how many replicas, and the data capture document as it was given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from modelyard.storage.database import Database
from modelyard.storage.listing import ListQuery, Page, fetch_page, name_key, utc
from modelyard.storage.schema import endpoint_configs
from modelyard.storage.tags import ResourceType, Tag, delete_resource_tags, insert_tags

__all__ = ["EndpointConfig", "EndpointConfigs", "ProductionVariant"]


@dataclass(frozen=True, kw_only=True)
class ProductionVariant:
    """One production variant of a configuration (SageMaker's ``ProductionVariant``)."""

    #: The variant's name, unique in its configuration.
    variant_name: str
    #: The SageMaker model it serves.
    model_name: str
    #: Replicas to load (one per worker process at most).
    initial_instance_count: int = 1
    #: Its share of the traffic, relative to the other variants' weights.
    initial_variant_weight: float = 1.0
    #: The instance type asked for: recorded, not used.
    instance_type: str | None = None

    def to_document(self) -> dict[str, Any]:
        """The ``ProductionVariant`` document of SageMaker's API."""
        document: dict[str, Any] = {
            "VariantName": self.variant_name,
            "ModelName": self.model_name,
            "InitialInstanceCount": self.initial_instance_count,
            "InitialVariantWeight": self.initial_variant_weight,
        }
        if self.instance_type is not None:
            document["InstanceType"] = self.instance_type
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ProductionVariant:
        """Read a document written by :meth:`to_document`."""
        return cls(
            variant_name=document["VariantName"],
            model_name=document["ModelName"],
            initial_instance_count=int(document.get("InitialInstanceCount", 1)),
            initial_variant_weight=float(document.get("InitialVariantWeight", 1.0)),
            instance_type=document.get("InstanceType"),
        )


@dataclass(frozen=True, kw_only=True)
class EndpointConfig:
    """An endpoint configuration as CreateEndpointConfig recorded it."""

    #: The name, as given (unique whatever its case).
    name: str
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: Its variants, in the order given.
    production_variants: tuple[ProductionVariant, ...]
    #: ``DataCaptureConfig`` as given (SageMaker's document), if any.
    data_capture_config: Mapping[str, Any] | None = None


class EndpointConfigs:
    """The repository of :class:`EndpointConfig`: one query per intent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, config: EndpointConfig, tags: Sequence[Tag] = ()) -> bool:
        """Record ``config`` with its tags; ``False`` if the name is taken (in any case)."""
        with self._db.begin() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(
                        insert(endpoint_configs).values(
                            key=name_key(config.name),
                            name=config.name,
                            created_at=config.created_at,
                            production_variants=encode_variants(config.production_variants),
                            data_capture_config=encode_document(config.data_capture_config),
                        )
                    )
            except IntegrityError:
                return False
            insert_tags(connection, ResourceType.ENDPOINT_CONFIG, config.name, tags)
        return True

    def get(self, name: str) -> EndpointConfig | None:
        """The configuration called ``name`` (in any case), or ``None``."""
        with self._db.begin() as connection:
            row = connection.execute(
                select(endpoint_configs).where(endpoint_configs.c.key == name_key(name))
            ).one_or_none()
        return None if row is None else _config(row)

    def list(self, query: ListQuery) -> Page[EndpointConfig]:
        """A page of configurations (ListEndpointConfigs)."""
        with self._db.begin() as connection:
            return fetch_page(connection, endpoint_configs, query, _config)

    def count(self) -> int:
        """How many configurations there are."""
        with self._db.begin() as connection:
            found: int = connection.execute(
                select(func.count()).select_from(endpoint_configs)
            ).scalar_one()
        return found

    def remove(self, name: str) -> bool:
        """Delete the configuration and its tags; ``False`` if there was none."""
        with self._db.begin() as connection:
            result = connection.execute(
                delete(endpoint_configs).where(endpoint_configs.c.key == name_key(name))
            )
            if result.rowcount == 0:
                return False
            delete_resource_tags(connection, ResourceType.ENDPOINT_CONFIG, name)
        return True


def encode_variants(variants: Sequence[ProductionVariant]) -> str:
    """JSON text of ``variants``, as the tables keep them."""
    return json.dumps([v.to_document() for v in variants], sort_keys=True)


def decode_variants(text: str) -> tuple[ProductionVariant, ...]:
    """Variants from :func:`encode_variants`' text."""
    return tuple(ProductionVariant.from_document(d) for d in json.loads(text))


def encode_document(document: Mapping[str, Any] | None) -> str | None:
    """JSON text of a document kept as given, or ``None``."""
    return None if document is None else json.dumps(document, sort_keys=True)


def decode_document(text: str | None) -> dict[str, Any] | None:
    """A document from :func:`encode_document`'s text."""
    return None if text is None else dict(json.loads(text))


def _config(row: Row[Any]) -> EndpointConfig:
    return EndpointConfig(
        name=row.name,
        created_at=utc(row.created_at),
        production_variants=decode_variants(row.production_variants),
        data_capture_config=decode_document(row.data_capture_config),
    )
