"""The records of the gateway area: what the gateway repository stores and answers.

REST APIs, their deployments and stages, API keys and usage plans, in API Gateway's
vocabulary, and how each is read back from its row; see :mod:`modelyard.storage.gateway`
for the repository. What API Gateway describes with many members (an API's resources and
methods, a stage's settings, a plan's throttle and quota) is one JSON document here, in
the camelCase shape the API answers with: the storage keeps it, the domain reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Row

from modelyard.storage.listing import utc

__all__ = [
    "KEEP",
    "ApiKeyRecord",
    "Keep",
    "StoredApi",
    "StoredDeployment",
    "StoredStage",
    "StoredUsagePlan",
    "api_from_row",
    "api_key_from_row",
    "deployment_from_row",
    "dumps",
    "stage_from_row",
    "usage_plan_from_row",
]


class Keep(Enum):
    """An update argument that was not given: the stored value stays.

    ``None`` cannot say so, since it is a value some fields take (no description), the way
    httpx's ``UseClientDefault`` differs from ``timeout=None``.
    """

    #: Keep what is stored.
    KEEP = "keep"


#: The one :class:`Keep` value, the default of every optional update argument.
KEEP = Keep.KEEP


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredApi:
    """A REST API (CreateRestApi, ImportRestApi) and the version of its definition."""

    #: Its id (``restApiId``), case-sensitive.
    id: str
    #: Its name, as given; several APIs may share one.
    name: str
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: How many times it was written, 1 when new: a replace names the version it read.
    version: int
    #: The whole definition: the camelCase ``RestApi`` document of
    #: :mod:`modelyard.gateway.definitions`.
    document: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredDeployment:
    """A deployment of a REST API (CreateDeployment): its definition, frozen."""

    #: The API it belongs to.
    api_id: str
    #: Its id, unique within the API.
    id: str
    #: What it is for, as given.
    description: str | None
    #: When it was made, timezone-aware UTC.
    created_at: datetime
    #: The API's ``RestApi`` document as it was when it was deployed.
    document: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredStage:
    """A stage of a REST API (CreateStage): a name clients call, serving one deployment."""

    #: The API it belongs to.
    api_id: str
    #: Its name (``stageName``), unique within the API, case-sensitive.
    name: str
    #: The deployment it serves, one of its API's.
    deployment_id: str
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: When it last changed, timezone-aware UTC.
    last_updated_at: datetime
    #: Its settings as the API answers them: ``variables``, ``methodSettings``,
    #: ``canarySettings``, ``cacheClusterEnabled``, ``description``, ``tags``...
    document: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKeyRecord:
    """An API key (CreateApiKey), known by the hash of its value."""

    #: Its id, case-sensitive.
    id: str
    #: The SHA-256 of its value, in hex: the value itself is shown once and never stored.
    value_hash: str
    #: Its name, as given.
    name: str
    #: What it is for, as given.
    description: str | None
    #: Whether requests carrying it are let in.
    enabled: bool
    #: The AWS Marketplace customer it was issued to, as given.
    customer_id: str | None
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: When it last changed, timezone-aware UTC.
    last_updated_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredUsagePlan:
    """A usage plan (CreateUsagePlan): which stages its keys may call, how often."""

    #: Its id, case-sensitive.
    id: str
    #: Its name, as given.
    name: str
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: ``apiStages``, ``throttle``, ``quota``, ``description`` and ``tags``, as the API
    #: answers them.
    document: Mapping[str, Any]


def api_from_row(row: Row[Any]) -> StoredApi:
    return StoredApi(
        id=row.id,
        name=row.name,
        created_at=utc(row.created_at),
        version=row.version,
        document=json.loads(row.document),
    )


def deployment_from_row(row: Row[Any]) -> StoredDeployment:
    return StoredDeployment(
        api_id=row.api_id,
        id=row.id,
        description=row.description,
        created_at=utc(row.created_at),
        document=json.loads(row.document),
    )


def stage_from_row(row: Row[Any]) -> StoredStage:
    return StoredStage(
        api_id=row.api_id,
        name=row.name,
        deployment_id=row.deployment_id,
        created_at=utc(row.created_at),
        last_updated_at=utc(row.last_updated_at),
        document=json.loads(row.document),
    )


def api_key_from_row(row: Row[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        value_hash=row.value_hash,
        name=row.name,
        description=row.description,
        enabled=row.enabled,
        customer_id=row.customer_id,
        created_at=utc(row.created_at),
        last_updated_at=utc(row.last_updated_at),
    )


def usage_plan_from_row(row: Row[Any]) -> StoredUsagePlan:
    return StoredUsagePlan(
        id=row.id,
        name=row.name,
        created_at=utc(row.created_at),
        document=json.loads(row.document),
    )


def dumps(document: Mapping[str, Any]) -> str:
    """``document`` as the JSON text stored.

    Members keep the order they were given in (no ``sort_keys``): an API's resources and a
    method's templates are answered in the order they were defined.
    """
    return json.dumps(dict(document), separators=(",", ":"))
