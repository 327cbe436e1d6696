"""Tags of SageMaker resources (AddTags, ListTags, DeleteTags), kept by resource.

A resource is named by its type and name, never by its ARN: ARNs hold the region and
account, which are settings, and a changed setting must not orphan tags. Tags are written
in the same transaction that checks their resource exists, so a resource deleted at the
same moment leaves none behind.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, Table, delete, func, insert, select

from modelyard.storage.database import Database
from modelyard.storage.listing import name_key
from modelyard.storage.schema import endpoint_configs, endpoints, sagemaker_models, tags

__all__ = ["ResourceType", "Tag", "Tags", "delete_resource_tags", "insert_tags"]


class ResourceType(StrEnum):
    """Kinds of taggable resources, spelled as in their ARNs."""

    #: A SageMaker model (CreateModel).
    MODEL = "model"
    #: An endpoint configuration (CreateEndpointConfig).
    ENDPOINT_CONFIG = "endpoint-config"
    #: An endpoint (CreateEndpoint).
    ENDPOINT = "endpoint"


@dataclass(frozen=True, kw_only=True)
class Tag:
    """One tag: a key and its value."""

    #: The key, unique per resource (case-sensitive).
    key: str
    #: The value, possibly empty.
    value: str


#: The table holding each kind of resource, to check a resource exists before tagging it.
_OWNERS: dict[ResourceType, Table] = {
    ResourceType.MODEL: sagemaker_models,
    ResourceType.ENDPOINT_CONFIG: endpoint_configs,
    ResourceType.ENDPOINT: endpoints,
}


class _TooManyTags(Exception):
    """Rolls the transaction of :meth:`Tags.add` back when the limit would be passed."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class Tags:
    """The repository of :class:`Tag`: one query per intent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self, resource: ResourceType, name: str, new: Sequence[Tag], *, max_tags: int
    ) -> int | None:
        """Set ``new`` on the resource (a key already there takes the new value).

        Returns how many tags the resource has then, or ``None`` when there is no such
        resource. If that would be more than ``max_tags``, nothing is written and the
        count it would have been is returned.
        """
        key = name_key(name)
        try:
            with self._db.begin() as connection:
                if not _exists(connection, resource, key):
                    return None
                connection.execute(
                    delete(tags).where(
                        tags.c.resource_type == resource.value,
                        tags.c.resource_key == key,
                        tags.c.key.in_({tag.key for tag in new}),
                    )
                )
                insert_tags(connection, resource, name, new)
                count: int = connection.execute(
                    select(func.count()).where(
                        tags.c.resource_type == resource.value, tags.c.resource_key == key
                    )
                ).scalar_one()
                if count > max_tags:
                    raise _TooManyTags(count)
        except _TooManyTags as exc:
            return exc.count
        return count

    def list(self, resource: ResourceType, name: str) -> builtins.list[Tag] | None:
        """The resource's tags by key, or ``None`` when there is no such resource."""
        key = name_key(name)
        with self._db.read() as connection:
            if not _exists(connection, resource, key):
                return None
            rows = connection.execute(
                select(tags.c.key, tags.c.value)
                .where(tags.c.resource_type == resource.value, tags.c.resource_key == key)
                .order_by(tags.c.key)
            ).all()
        return [Tag(key=row.key, value=row.value) for row in rows]

    def remove(self, resource: ResourceType, name: str, keys: Sequence[str]) -> bool:
        """Delete the tags of ``keys`` (missing ones are ignored); ``False`` if no resource."""
        key = name_key(name)
        with self._db.begin() as connection:
            if not _exists(connection, resource, key):
                return False
            connection.execute(
                delete(tags).where(
                    tags.c.resource_type == resource.value,
                    tags.c.resource_key == key,
                    tags.c.key.in_(set(keys)),
                )
            )
        return True


def insert_tags(
    connection: Connection, resource: ResourceType, name: str, new: Sequence[Tag]
) -> None:
    """Add ``new`` to the resource inside the caller's transaction (keys must be new)."""
    # A request may repeat a key: the last value wins, as it would one by one.
    latest = {tag.key: tag.value for tag in new}
    if latest:
        connection.execute(
            insert(tags),
            [
                {
                    "resource_type": resource.value,
                    "resource_key": name_key(name),
                    "key": tag_key,
                    "value": value,
                }
                for tag_key, value in latest.items()
            ],
        )


def delete_resource_tags(connection: Connection, resource: ResourceType, name: str) -> None:
    """Forget every tag of the resource inside the caller's transaction (it is being deleted)."""
    connection.execute(
        delete(tags).where(
            tags.c.resource_type == resource.value, tags.c.resource_key == name_key(name)
        )
    )


def _exists(connection: Connection, resource: ResourceType, key: str) -> bool:
    owner = _OWNERS[resource]
    found = connection.execute(select(owner.c.key).where(owner.c.key == key)).first()
    return found is not None
