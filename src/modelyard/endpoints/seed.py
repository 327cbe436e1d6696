"""EndpointSeed: endpoints declared in a file of the home, created at start when missing.

``modelyard up`` reads ``<home>/seed/endpoints.json`` (``examples/prepare.py`` writes one
for ``make run``, so the jobs API has endpoints to fan out to)::

    {"endpoints": [
        {"name": "iris-sklearn", "model_data_url": "s3://models/iris",
         "categories": ["iris"], "instance_count": 1},
        {"name": "factchecks", "model_data_url": "s3://models/factchecks",
         "mode": "MultiModel", "categories": ["factchecks"]}
    ]}

Each entry is one endpoint serving one artifact (or, ``"mode": "MultiModel"``, every model
under a prefix, each request naming its own: a training pipeline's folder), filed under
its categories: a SageMaker
model, an endpoint config (one variant, ``main``) and an endpoint, all three named
``name``, created through :class:`~modelyard.endpoints.service.EndpointService` as
CreateModel, CreateEndpointConfig and CreateEndpoint would, the endpoint tagged
``category=<categories>``.

The rule, at every start: **what is missing is created, what exists is never changed.**
An endpoint of that name, whatever its config, tags or status, is left alone; a model or
endpoint config of that name is used as it is. So an endpoint a user deleted comes back
at the next start, until its entry leaves the file (or the file goes). Endpoints are
created Creating, as CreateEndpoint answers: their models load in the background and the
start does not wait for them.

A file that is not valid (not JSON, unknown fields, bad names) stops the start with
:class:`InvalidSeed` naming the file and every problem: a typo is not half applied. An
entry that cannot be created (its URL is not allowed, a quota is reached) is logged and
skipped, and the others are still created; an artifact missing from the store makes the
endpoint Failed, as CreateEndpoint would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelyard.endpoints.errors import ResourceAlreadyExists, ResourceNotFound
from modelyard.endpoints.service import CATEGORY_TAG, EndpointService
from modelyard.endpoints.shapes import ModelDataUrl, ResourceName
from modelyard.errors import ModelyardError
from modelyard.storage.endpoint_configs import ProductionVariant
from modelyard.storage.sagemaker_models import ContainerDefinition, ContainerMode
from modelyard.storage.tags import Tag

__all__ = [
    "SEED_FILE",
    "EndpointSeed",
    "InvalidSeed",
    "SeedEndpoint",
    "SeedFile",
    "read_seed",
]

#: Where the seed file is, relative to the home.
SEED_FILE = Path("seed") / "endpoints.json"
#: The variant of every seeded endpoint.
VARIANT = "main"
#: The role recorded on seeded models (modelyard assumes no roles).
ROLE_ARN = "arn:aws:iam::000000000000:role/modelyard-seed"

logger = logging.getLogger(__name__)

#: A letter of a tag value, as the SageMaker API allows them (no comma: it separates
#: the categories of the ``category`` tag).
_LETTER = r"[\p{L}\p{N}_.:/=+\-@]"
#: A category: tag letters and inner spaces.
Category = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=rf"^{_LETTER}([\p{{L}}\p{{Z}}\p{{N}}_.:/=+\-@]*{_LETTER})?$",
    ),
]
#: The longest tag value (the categories, joined by commas).
MAX_TAG_VALUE = 256


class InvalidSeed(ModelyardError):
    """The seed file cannot be applied: it is not a valid list of endpoints."""


class SeedEndpoint(BaseModel):
    """One endpoint of the seed file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The endpoint's name, also its model's and endpoint config's.
    name: ResourceName
    #: The model artifact, as CreateModel's ``ModelDataUrl`` (``s3://models/<name>``); for
    #: a MultiModel endpoint, the prefix its models are under.
    model_data_url: ModelDataUrl
    #: ``SingleModel``, or ``MultiModel``: requests name their model (``TargetModel``).
    mode: ContainerMode = ContainerMode.SINGLE_MODEL
    #: The categories it is filed under (its ``category`` tag).
    categories: list[Category] = Field(min_length=1)
    #: Replicas of its model (worker processes), as ``InitialInstanceCount``.
    instance_count: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _fits_one_tag(self) -> SeedEndpoint:
        if len(",".join(self.categories)) > MAX_TAG_VALUE:
            raise ValueError(f"the categories, joined by commas, exceed {MAX_TAG_VALUE} characters")
        return self


class SeedFile(BaseModel):
    """The seed file: ``{"endpoints": [...]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The endpoints, created in this order.
    endpoints: list[SeedEndpoint]


class EndpointSeed:
    """Creates the missing endpoints of a seed file when the platform starts (an area).

    ``platform.py`` starts it right after the endpoints area, whose facade it is given.
    """

    def __init__(self, endpoints: EndpointService, path: Path) -> None:
        self._endpoints = endpoints
        #: The seed file; none there, nothing to do.
        self.path = path

    async def start(self) -> None:
        """Apply the seed file, if there is one."""
        await self.apply()

    async def stop(self) -> None:
        """Nothing runs in the background: the endpoints area deploys what was created."""

    async def apply(self) -> list[str]:
        """Create what the seed file declares and is missing; returns the endpoints created.

        Raises :class:`InvalidSeed` if the file is not valid.
        """
        seed = await asyncio.to_thread(read_seed, self.path)
        if seed is None:
            return []
        created = []
        for entry in seed.endpoints:
            try:
                if await self._create(entry):
                    created.append(entry.name)
            except ModelyardError as exc:
                # One entry that cannot be created now must not keep the others (or the
                # platform) from starting.
                logger.warning("seed endpoint %s not created: %s", entry.name, exc.message)
        if created:
            logger.info("seeded endpoints from %s: %s", self.path, ", ".join(created))
        return created

    async def _exists(self, name: str) -> bool:
        """Whether an endpoint of that name exists (in any status)."""
        try:
            await self._endpoints.describe_endpoint(name)
        except ResourceNotFound:
            return False
        return True

    async def _create(self, entry: SeedEndpoint) -> bool:
        """Create the endpoint of ``entry`` (and its model and config) if it is missing."""
        service = self._endpoints
        if await self._exists(entry.name):
            return False
        # A model or config of that name already there is used as it is.
        with contextlib.suppress(ResourceAlreadyExists):
            await service.create_model(
                name=entry.name,
                primary_container=ContainerDefinition(
                    model_data_url=entry.model_data_url, image="modelyard", mode=entry.mode
                ),
                execution_role_arn=ROLE_ARN,
            )
        with contextlib.suppress(ResourceAlreadyExists):
            await service.create_endpoint_config(
                name=entry.name,
                production_variants=[
                    ProductionVariant(
                        variant_name=VARIANT,
                        model_name=entry.name,
                        initial_instance_count=entry.instance_count,
                    )
                ],
            )
        try:
            await service.create_endpoint(
                name=entry.name,
                config_name=entry.name,
                tags=[Tag(key=CATEGORY_TAG, value=",".join(entry.categories))],
            )
        except ResourceAlreadyExists:
            return False  # created meanwhile: it exists, which is all the seed asks
        return True


def read_seed(path: Path) -> SeedFile | None:
    """The seed file at ``path``, parsed; ``None`` if there is none.

    Raises :class:`InvalidSeed` naming the file and every problem if it is not valid.
    """
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidSeed(f"{path}: {exc.strerror or exc}") from exc
    try:
        return SeedFile.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise InvalidSeed(f"{path}: {problems}") from None
