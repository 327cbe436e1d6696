"""The two Task resources the jobs state machine uses besides the AWS ones.

``arn:aws:states:::modelyard:endpointsOfCategories``
    ``{"Categories": ["nlp", ...]}`` → ``{"Endpoints": [{"EndpointName", "Category"}, ...]}``:
    every serving endpoint whose ``category`` tag lists one of the categories, once each
    (under the first category of the request that it has), by name.

``arn:aws:states:::modelyard:invokeEndpoint``
    InvokeEndpoint with its body and answer in the object store, in the spirit of
    SageMaker's InvokeEndpointAsync: ``{"EndpointName", "InputLocation", "OutputLocation",
    "ContentType", "Accept"}`` (locations as ``s3://BUCKET/KEY``) → ``{"OutputLocation",
    "ContentType", "InvokedProductionVariant", "DurationMs"}``. A job's data may be far
    larger than the 256 KiB a state may carry, so it never passes through the states.
    Failures are the ``SageMakerRuntime.*`` errors of the SDK integration.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from modelyard.endpoints import InvocationRequest
from modelyard.errors import ObjectNotFound, ObjectStoreError
from modelyard.storage.endpoints import Endpoint, EndpointStatus
from modelyard.storage.objectstore import ObjectStore, put_object
from modelyard.workflows.environment import TaskContext
from modelyard.workflows.errors import StatesError
from modelyard.workflows.sagemaker_task import InvokeEndpointTask

__all__ = [
    "ENDPOINTS_OF_CATEGORIES",
    "INVOKE_ENDPOINT",
    "SERVING",
    "CategoryRegistry",
    "EndpointsOfCategoriesTask",
    "InvokeEndpointWithObjectsTask",
    "object_key",
]

#: Finds the endpoints of categories.
ENDPOINTS_OF_CATEGORIES = "arn:aws:states:::modelyard:endpointsOfCategories"
#: Invokes an endpoint on an object, writing its answer to another.
INVOKE_ENDPOINT = "arn:aws:states:::modelyard:invokeEndpoint"

#: Statuses in which an endpoint serves.
SERVING = frozenset({EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING})


class CategoryRegistry(Protocol):
    """What the jobs need of the endpoints area: its endpoints with their categories."""

    async def categorized_endpoints(self) -> list[tuple[Endpoint, tuple[str, ...]]]:
        """Every endpoint with a ``category`` tag, with its categories, by name."""
        ...


class EndpointsOfCategoriesTask:
    """Runs ``modelyard:endpointsOfCategories``."""

    def __init__(self, registry: CategoryRegistry) -> None:
        self._registry = registry

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        """The serving endpoints of ``payload["Categories"]``."""
        categories = payload.get("Categories") if isinstance(payload, dict) else None
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise StatesError(
                "Modelyard.ValidationException", "Categories must be a list of strings."
            )
        wanted = [category.strip().casefold() for category in categories]
        found: list[dict[str, str]] = []
        for endpoint, tagged in await self._registry.categorized_endpoints():
            if endpoint.status not in SERVING:
                continue
            has = {category.casefold() for category in tagged}
            match = next((c for c, w in zip(categories, wanted, strict=True) if w in has), None)
            if match is not None:
                found.append({"EndpointName": endpoint.name, "Category": match.strip()})
        return {"Endpoints": found}


class InvokeEndpointWithObjectsTask:
    """Runs ``modelyard:invokeEndpoint``: input and answer in the object store."""

    def __init__(self, invoke: InvokeEndpointTask, store: ObjectStore) -> None:
        self._invoke = invoke
        self._store = store
        #: Reads under way, by key: a job's Map reads its one input for every endpoint at
        #: the same moment, and they share one read.
        self._reading: dict[str, asyncio.Future[bytes]] = {}

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        """Invoke the endpoint on the input object; write the answer; say where."""
        if not isinstance(payload, dict):
            raise _invalid("the task's input must be an object")
        name, source, target = (
            _string(payload, "EndpointName"),
            _string(payload, "InputLocation"),
            _string(payload, "OutputLocation"),
        )
        content_type = payload.get("ContentType") or "application/json"
        accept = payload.get("Accept")
        try:
            body = await self._read(object_key(source))
        except ObjectNotFound as exc:
            raise _invalid(f"no object at InputLocation {source}") from exc
        except ObjectStoreError as exc:
            raise StatesError("SageMakerRuntime.InternalFailureException", exc.message) from exc
        started = time.perf_counter()
        result = await self._invoke.call(
            InvocationRequest(
                endpoint_name=name,
                body=body,
                content_type=str(content_type),
                accept=str(accept) if accept else None,
                inference_id=None,
            )
        )
        duration_ms = (time.perf_counter() - started) * 1000.0
        try:
            await put_object(self._store, object_key(target), result.answer.body)
        except ObjectStoreError as exc:
            raise StatesError("SageMakerRuntime.InternalFailureException", exc.message) from exc
        return {
            "OutputLocation": target,
            "ContentType": result.answer.content_type,
            "InvokedProductionVariant": result.variant_name,
            "DurationMs": round(duration_ms, 3),
        }

    async def _read(self, key: str) -> bytes:
        """The object at ``key``, read once for all who ask while it is being read."""
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(asyncio.to_thread(self._store.get, key))
            self._reading[key] = reading
            reading.add_done_callback(lambda done: self._done_reading(key, done))
        # Shielded: one reader giving up (its task cancelled) does not fail the others.
        return await asyncio.shield(reading)

    def _done_reading(self, key: str, reading: asyncio.Future[bytes]) -> None:
        self._reading.pop(key, None)
        if not reading.cancelled():
            reading.exception()  # retrieved: every reader may have been cancelled


def object_key(location: str) -> str:
    """The object store key of ``s3://BUCKET/KEY`` (``BUCKET/KEY``)."""
    if not location.startswith("s3://"):
        raise _invalid(f"{location!r} is not an s3:// location")
    return location.removeprefix("s3://")


def _string(payload: dict[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value:
        raise _invalid(f"{field} is required and must be a string")
    return value


def _invalid(message: str) -> StatesError:
    return StatesError("SageMakerRuntime.ValidationErrorException", message)
