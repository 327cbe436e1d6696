"""The endpoints area's quotas: how many resources may exist, how big a variant may be.

SageMaker answers ResourceLimitExceeded past an account quota (endpoints, instances per
variant); these are modelyard's, set by ``EndpointSettings``. Tags have SageMaker's own
limits (50 a resource, no ``aws:`` keys), which are validation errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelyard.endpoints.errors import InvalidParameterValue, ResourceLimitExceeded
from modelyard.storage.tags import Tag

__all__ = ["EndpointLimits", "check_count", "check_instance_count", "check_tags"]


@dataclass(frozen=True, kw_only=True)
class EndpointLimits:
    """How many resources may exist, and how big a variant may be (SageMaker's quotas).

    >>> EndpointLimits(max_endpoints=100, max_instance_count=4)
    """

    #: SageMaker models at most.
    max_models: int = 10_000
    #: Endpoint configurations at most.
    max_endpoint_configs: int = 10_000
    #: Endpoints at most.
    max_endpoints: int = 10_000
    #: Instances (replicas) one variant may ask for.
    max_instance_count: int = 64
    #: Tags per resource (SageMaker's limit).
    max_tags: int = 50


def check_count(existing: int, limit: int, what: str) -> None:
    """ResourceLimitExceeded if one more of ``what`` would pass ``limit``."""
    if existing >= limit:
        raise ResourceLimitExceeded(
            f"The limit of {limit} {what} is reached ({existing} exist); delete some first."
        )


def check_instance_count(limits: EndpointLimits, variant: str, count: int) -> None:
    """A variant's instance count: at least 1, at most the limit (ResourceLimitExceeded)."""
    if count < 1:
        raise InvalidParameterValue(f"The instance count of variant {variant} must be at least 1")
    if count > limits.max_instance_count:
        raise ResourceLimitExceeded(
            f"Variant {variant} asks for {count} instances; the limit is "
            f"{limits.max_instance_count} instances per variant."
        )


def check_tags(limits: EndpointLimits, tags: Sequence[Tag]) -> None:
    """Tags a request may set: not too many, none of AWS's reserved ``aws:`` keys."""
    if len({tag.key for tag in tags}) > limits.max_tags:
        raise InvalidParameterValue(f"A resource may have {limits.max_tags} tags at most")
    reserved = [tag.key for tag in tags if tag.key.lower().startswith("aws:")]
    if reserved:
        raise InvalidParameterValue(f"Tag keys starting with 'aws:' are reserved: {reserved}")
