"""The endpoints area's facade: SageMaker models, endpoint configs, endpoints and tags.

:class:`EndpointService` is what every protocol of the area calls (the SageMaker control
plane, InvokeEndpoint, the admin route, the jobs API through
:meth:`EndpointService.endpoints_of_category`); it knows nothing of HTTP. It calls models
only through the serving facade (:class:`~modelyard.serving.facade.ModelInvoker`) it is
given, by the keys ``sagemaker/<model>`` (SingleModel) and ``sagemaker/<model>/<target>``
(MultiModel), so every endpoint shares the model server's one pool, cache and budget.

It is an *area*: ``platform.py`` starts it after serving (which resumes endpoints left
Creating, Updating or Deleting) and stops it before. Database calls run off the event
loop; invocations never touch the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from modelyard.endpoints.arns import Arns
from modelyard.endpoints.categories import Categorized, CategoryIndex
from modelyard.endpoints.deployment import Deployer
from modelyard.endpoints.errors import (
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceInUse,
    ResourceNotFound,
    VariantNotFound,
)
from modelyard.endpoints.limits import (
    EndpointLimits,
    check_count,
    check_instance_count,
    check_tags,
)
from modelyard.endpoints.runtime import (
    EndpointRuntime,
    InvocationObserver,
    InvocationRequest,
    InvocationResult,
)
from modelyard.endpoints.traffic import TrafficTable
from modelyard.errors import AccessDenied, InvalidRequest
from modelyard.serving.facade import ModelInvoker, ModelRef
from modelyard.storage.database import Database
from modelyard.storage.endpoint_configs import EndpointConfig, EndpointConfigs, ProductionVariant
from modelyard.storage.endpoints import (
    DeployedVariant,
    Deployment,
    Endpoint,
    Endpoints,
    EndpointStatus,
)
from modelyard.storage.listing import ListQuery, Page, name_key
from modelyard.storage.sagemaker_models import ContainerDefinition, SageMakerModel, SageMakerModels
from modelyard.storage.tags import ResourceType, Tag, Tags

__all__ = ["CATEGORY_TAG", "DesiredWeightAndCapacity", "EndpointService"]

T = TypeVar("T")

#: The tag that files endpoints under categories (comma-separated values): the endpoint
#: metadata registry the jobs API asks.
CATEGORY_TAG = "category"


@dataclass(frozen=True, kw_only=True)
class DesiredWeightAndCapacity:
    """A new weight and/or instance count for one variant (UpdateEndpointWeightsAndCapacities)."""

    #: The variant.
    variant_name: str
    #: Its new weight, if it changes.
    weight: float | None = None
    #: Its new instance count, if it changes.
    instance_count: int | None = None


class EndpointService:
    """SageMaker models, endpoint configs, endpoints and tags; deploys and invokes endpoints."""

    def __init__(
        self,
        *,
        database: Database,
        invoker: ModelInvoker,
        arns: Arns,
        limits: EndpointLimits | None = None,
        drain_timeout_s: float = 60.0,
        observers: Sequence[InvocationObserver] = (),
    ) -> None:
        self.arns = arns
        self.limits = limits or EndpointLimits()
        self._invoker = invoker
        self._models = SageMakerModels(database)
        self._configs = EndpointConfigs(database)
        self._endpoints = Endpoints(database)
        self._tags = Tags(database)
        #: What invocations are routed by: every endpoint's status and traffic split.
        self.table = TrafficTable()
        #: InvokeEndpoint; its observers are the seam for data capture and metrics.
        self.runtime = EndpointRuntime(invoker, self.table, observers)
        self._deployer = Deployer(
            invoker, self._endpoints, self.table, drain_timeout_s=drain_timeout_s
        )
        self._categories = CategoryIndex(self.table, self._load_categorized)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Publish the endpoints the database has; resume unfinished deployments."""
        await self._deployer.resume()

    async def stop(self) -> None:
        """Cancel deployments under way (they resume at the next start)."""
        await self._deployer.stop()

    # -- models -------------------------------------------------------------------------------

    async def create_model(
        self,
        *,
        name: str,
        primary_container: ContainerDefinition | None = None,
        containers: Sequence[ContainerDefinition] = (),
        execution_role_arn: str | None = None,
        tags: Sequence[Tag] = (),
    ) -> SageMakerModel:
        """CreateModel: record a model after checking its artifact URL may be loaded."""
        if (primary_container is None) == (not containers):
            raise InvalidParameterValue("Exactly one of PrimaryContainer or Containers is required")
        if len(containers) > 1:
            raise InvalidParameterValue(
                "Containers holds one container here: inference pipelines of several "
                "containers are not supported"
            )
        field = "primaryContainer" if primary_container is not None else "containers.1.member"
        container = primary_container or containers[0]
        url = container.model_data_url
        if not url:
            raise InvalidParameterValue(
                f"Value null at '{field}.modelDataUrl' failed to satisfy constraint: modelyard "
                "loads models from artifacts (ModelDataUrl), not from container images"
            )
        try:
            await asyncio.to_thread(self._invoker.check_url, url)
        except (InvalidRequest, AccessDenied) as exc:  # not allowed, or not an artifact URL
            raise InvalidParameterValue(
                f"Value '{url}' at '{field}.modelDataUrl' failed to satisfy constraint: "
                f"{exc.message}"
            ) from exc
        check_tags(self.limits, tags)
        await self._check_count(self._models.count, self.limits.max_models, "models")
        model = SageMakerModel(
            name=name,
            created_at=_now(),
            primary_container=primary_container,
            containers=tuple(containers),
            execution_role_arn=execution_role_arn,
        )
        if not await self._db(self._models.add, model, tags):
            raise ResourceAlreadyExists(
                f'Cannot create already existing model "{self.arns.of(ResourceType.MODEL, name)}".'
            )
        return model

    async def describe_model(self, name: str) -> SageMakerModel:
        """DescribeModel."""
        model = await self._db(self._models.get, name)
        if model is None:
            raise self._not_found(ResourceType.MODEL, name)
        return model

    async def list_models(self, query: ListQuery) -> Page[SageMakerModel]:
        """ListModels."""
        return await self._db(self._models.list, query)

    async def delete_model(self, name: str) -> None:
        """DeleteModel. Endpoints deployed from it keep serving (they hold a copy); if none
        does, the model is unloaded, so a new model of that name starts afresh."""
        model = await self.describe_model(name)
        if not await self._db(self._models.remove, name):
            raise self._not_found(ResourceType.MODEL, name)
        await self._deployer.unload_unused([ModelRef(f"sagemaker/{model.name}")])

    # -- endpoint configs ---------------------------------------------------------------------

    async def create_endpoint_config(
        self,
        *,
        name: str,
        production_variants: Sequence[ProductionVariant],
        data_capture_config: Mapping[str, Any] | None = None,
        tags: Sequence[Tag] = (),
    ) -> EndpointConfig:
        """CreateEndpointConfig: every variant's model must exist."""
        names = [name_key(v.variant_name) for v in production_variants]
        if len(set(names)) != len(names):
            raise InvalidParameterValue("VariantName must be unique within ProductionVariants")
        for variant in production_variants:
            check_instance_count(self.limits, variant.variant_name, variant.initial_instance_count)
        if not any(v.initial_variant_weight > 0 for v in production_variants):
            raise InvalidParameterValue(
                "At least one production variant must have an InitialVariantWeight above 0"
            )
        for model_name in dict.fromkeys(v.model_name for v in production_variants):
            await self.describe_model(model_name)
        check_tags(self.limits, tags)
        await self._check_count(
            self._configs.count, self.limits.max_endpoint_configs, "endpoint configurations"
        )
        config = EndpointConfig(
            name=name,
            created_at=_now(),
            production_variants=tuple(production_variants),
            data_capture_config=data_capture_config,
        )
        if not await self._db(self._configs.add, config, tags):
            arn = self.arns.of(ResourceType.ENDPOINT_CONFIG, name)
            raise ResourceAlreadyExists(
                f'Cannot create already existing endpoint configuration "{arn}".'
            )
        return config

    async def describe_endpoint_config(self, name: str) -> EndpointConfig:
        """DescribeEndpointConfig."""
        config = await self._db(self._configs.get, name)
        if config is None:
            raise self._not_found(ResourceType.ENDPOINT_CONFIG, name)
        return config

    async def list_endpoint_configs(self, query: ListQuery) -> Page[EndpointConfig]:
        """ListEndpointConfigs."""
        return await self._db(self._configs.list, query)

    async def delete_endpoint_config(self, name: str) -> None:
        """DeleteEndpointConfig. Endpoints using it keep serving, as in SageMaker."""
        if not await self._db(self._configs.remove, name):
            raise self._not_found(ResourceType.ENDPOINT_CONFIG, name)

    # -- endpoints ----------------------------------------------------------------------------

    async def create_endpoint(
        self, *, name: str, config_name: str, tags: Sequence[Tag] = ()
    ) -> Endpoint:
        """CreateEndpoint: answers Creating at once; the models load in the background."""
        deployment = await self._deployment(config_name, previous=None, retain=())
        check_tags(self.limits, tags)
        await self._check_count(self._endpoints.count, self.limits.max_endpoints, "endpoints")
        now = _now()
        endpoint = Endpoint(
            name=name,
            status=EndpointStatus.CREATING,
            current=deployment,
            created_at=now,
            last_modified_at=now,
        )
        async with self._deployer.lock(name):
            if not await self._db(self._endpoints.add, endpoint, tags):
                arn = self.arns.of(ResourceType.ENDPOINT, name)
                raise ResourceAlreadyExists(f'Cannot create already existing endpoint "{arn}".')
            self._deployer.publish(endpoint)
            self._deployer.create(endpoint)
        return endpoint

    async def describe_endpoint(self, name: str) -> Endpoint:
        """DescribeEndpoint. The status it answers is one this process's invocations see
        already: a client that reads InService may invoke at once."""
        endpoint = await self._stored_endpoint(name)
        await self._deployer.settled(name)
        return endpoint

    async def _stored_endpoint(self, name: str) -> Endpoint:
        """The endpoint as the database has it (holding its lock, the one to read)."""
        endpoint = await self._db(self._endpoints.get, name)
        if endpoint is None:
            raise self._not_found(ResourceType.ENDPOINT, name)
        return endpoint

    async def list_endpoints(self, query: ListQuery) -> Page[Endpoint]:
        """ListEndpoints."""
        return await self._db(self._endpoints.list, query)

    async def update_endpoint(
        self,
        *,
        name: str,
        config_name: str,
        retain_all_variant_properties: bool = False,
        exclude_retained: Collection[str] = (),
    ) -> Endpoint:
        """UpdateEndpoint to another config, blue/green: the current variants serve meanwhile.

        With ``retain_all_variant_properties``, variants of the same name keep their
        current weight and instance count, and the endpoint its data capture, except the
        properties named in ``exclude_retained`` (``DesiredWeight``,
        ``DesiredInstanceCount``, ``DataCaptureConfig``).
        """
        current = await self.describe_endpoint(name)
        retain = (
            {"DesiredWeight", "DesiredInstanceCount", "DataCaptureConfig"} - set(exclude_retained)
            if retain_all_variant_properties
            else set()
        )
        pending = await self._deployment(config_name, previous=current.current, retain=retain)
        if "DataCaptureConfig" in retain:
            pending = replace(pending, data_capture_config=current.current.data_capture_config)
        return await self._begin_update(name, pending)

    async def update_weights_and_capacities(
        self, name: str, desired: Sequence[DesiredWeightAndCapacity]
    ) -> Endpoint:
        """UpdateEndpointWeightsAndCapacities: new weights apply once new replicas are loaded."""
        endpoint = await self.describe_endpoint(name)
        by_name = {name_key(d.variant_name): d for d in desired}
        if len(by_name) != len(desired):
            raise InvalidParameterValue(
                "Each variant may appear once in DesiredWeightsAndCapacities"
            )
        known = {name_key(v.variant_name) for v in endpoint.current.variants}
        missing = [d.variant_name for d in desired if name_key(d.variant_name) not in known]
        if missing:
            raise VariantNotFound(
                f"The variant name(s) [{', '.join(missing)}] is/are not present in the current "
                f'configuration of endpoint "{self.arns.of(ResourceType.ENDPOINT, name)}".'
            )
        variants = []
        for variant in endpoint.current.variants:
            change = by_name.get(name_key(variant.variant_name))
            if change is not None:
                if change.weight is None and change.instance_count is None:
                    raise InvalidParameterValue(
                        f"Give DesiredWeight or DesiredInstanceCount for {variant.variant_name}"
                    )
                if change.instance_count is not None:
                    check_instance_count(self.limits, variant.variant_name, change.instance_count)
                variant = replace(
                    variant,
                    desired_weight=_given(change.weight, variant.current_weight),
                    desired_instance_count=_given(
                        change.instance_count, variant.current_instance_count
                    ),
                )
            variants.append(variant)
        if not any(v.desired_weight > 0 for v in variants):
            raise InvalidParameterValue("At least one variant must keep a weight above 0")
        return await self._begin_update(name, replace(endpoint.current, variants=tuple(variants)))

    async def delete_endpoint(self, name: str) -> None:
        """DeleteEndpoint: invocations stop at once; the endpoint is gone once unloaded."""
        async with self._deployer.lock(name):
            deleting = await self._db(self._endpoints.begin_delete, name)
            if deleting is None:
                raise self._not_found(ResourceType.ENDPOINT, name)
            live = self.table.withdraw(name)
            self._deployer.delete(deleting, live.split if live is not None else None)

    async def endpoints_of_category(self, category: str) -> list[Endpoint]:
        """Endpoints whose ``category`` tag lists ``category`` (comma-separated, any case).

        The endpoint metadata registry: the jobs API asks it which endpoints a job fans
        out to.
        """
        wanted = category.strip().casefold()
        return [
            endpoint
            for endpoint, categories in await self.categorized_endpoints()
            if wanted in {c.casefold() for c in categories}
        ]

    async def categorized_endpoints(self) -> Categorized:
        """Every endpoint that has a ``category`` tag, with its categories, by name."""
        return await self._categories.categorized()

    def _load_categorized(self) -> Categorized:
        return [
            (endpoint, tuple(part.strip() for part in value.split(",") if part.strip()))
            for endpoint, value in self._endpoints.tagged(CATEGORY_TAG)
        ]

    async def invoke(self, request: InvocationRequest) -> InvocationResult:
        """InvokeEndpoint."""
        return await self.runtime.invoke(request)

    # -- tags ---------------------------------------------------------------------------------

    async def add_tags(self, arn: str, tags: Sequence[Tag]) -> list[Tag]:
        """AddTags: set ``tags`` on the resource ``arn`` names; returns them."""
        resource, name = self.arns.parse(arn)
        check_tags(self.limits, tags)
        count = await self._db(self._tags.add, resource, name, tags, max_tags=self.limits.max_tags)
        self._categories.tags_changed()
        if count is None:
            raise self._not_found(resource, name)
        if count > self.limits.max_tags:
            raise InvalidParameterValue(
                f"A resource may have {self.limits.max_tags} tags at most; this would make {count}"
            )
        return list(tags)

    async def list_tags(self, arn: str) -> list[Tag]:
        """ListTags: the resource's tags by key."""
        resource, name = self.arns.parse(arn)
        found = await self._db(self._tags.list, resource, name)
        if found is None:
            raise self._not_found(resource, name)
        return found

    async def delete_tags(self, arn: str, keys: Sequence[str]) -> None:
        """DeleteTags: keys the resource does not have are ignored."""
        resource, name = self.arns.parse(arn)
        removed = await self._db(self._tags.remove, resource, name, keys)
        self._categories.tags_changed()
        if not removed:
            raise self._not_found(resource, name)

    # -- helpers ------------------------------------------------------------------------------

    async def _deployment(
        self, config_name: str, *, previous: Deployment | None, retain: Collection[str]
    ) -> Deployment:
        """What ``config_name`` deploys: its variants with a copy of their models."""
        config = await self.describe_endpoint_config(config_name)
        current = {name_key(v.variant_name): v for v in previous.variants} if previous else {}
        variants = []
        for variant in config.production_variants:
            model = await self.describe_model(variant.model_name)
            container = model.container
            if container is None or not container.model_data_url:
                raise InvalidParameterValue(f"model {model.name!r} has no ModelDataUrl to serve")
            url = await self._resolve(model.name, container.model_data_url)
            weight = variant.initial_variant_weight
            count = variant.initial_instance_count
            before = current.get(name_key(variant.variant_name))
            if before is not None:
                weight = before.current_weight if "DesiredWeight" in retain else weight
                count = before.current_instance_count if "DesiredInstanceCount" in retain else count
            variants.append(
                DeployedVariant(
                    variant_name=variant.variant_name,
                    model_name=model.name,
                    model_data_url=url,
                    mode=container.mode,
                    instance_type=variant.instance_type,
                    current_weight=weight,
                    desired_weight=weight,
                    current_instance_count=0,
                    desired_instance_count=count,
                )
            )
        return Deployment(
            config_name=config.name,
            variants=tuple(variants),
            data_capture_config=config.data_capture_config,
        )

    async def _resolve(self, model: str, url: str) -> str:
        """Where the model server finds ``url``: ``s3://`` is the object store, local paths
        are real paths; the allowed-URL rule applies again (it may have changed)."""
        try:
            return await asyncio.to_thread(self._invoker.check_url, url)
        except (InvalidRequest, AccessDenied) as exc:
            raise InvalidParameterValue(
                f"model {model!r} cannot be deployed: {exc.message}"
            ) from exc

    async def _begin_update(self, name: str, pending: Deployment) -> Endpoint:
        async with self._deployer.lock(name):
            updating = await self._db(self._endpoints.begin_update, name, pending)
            if updating is None:
                endpoint = await self._stored_endpoint(name)
                arn = self.arns.of(ResourceType.ENDPOINT, name)
                if endpoint.status is EndpointStatus.FAILED:
                    raise InvalidParameterValue(
                        f'Cannot update failed endpoint "{arn}": delete it and create it again.'
                    )
                raise ResourceInUse(f'Cannot update in-progress endpoint "{arn}".')
            self._deployer.publish(updating)
            self._deployer.update(updating)
        return updating

    async def _check_count(self, count: Callable[[], int], limit: int, what: str) -> None:
        check_count(await self._db(count), limit, what)

    def _not_found(self, resource: ResourceType, name: str) -> ResourceNotFound:
        what = {
            ResourceType.MODEL: "model",
            ResourceType.ENDPOINT_CONFIG: "endpoint configuration",
            ResourceType.ENDPOINT: "endpoint",
        }[resource]
        return ResourceNotFound(f'Could not find {what} "{self.arns.of(resource, name)}".')

    async def _db(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(query, *args, **kwargs)


def _now() -> datetime:
    # To the millisecond, as AWS keeps timestamps: what Describe answers is what List
    # filters compare with.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _given(value: T | None, default: T) -> T:
    return default if value is None else value
