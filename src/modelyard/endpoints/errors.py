"""Domain errors of the endpoints area (no HTTP in them).

    ModelyardError
     ├── InvalidRequest
     │    ├── InvalidParameterValue       a value the operation cannot accept (ValidationException)
     │    ├── InvalidInvocation           an InvokeEndpoint request with bad headers or body
     │    └── InvalidTargetModel          a TargetModel the endpoint cannot serve
     ├── ResourceNotFound                no model, endpoint config or endpoint of that name
     │    └── VariantNotFound             the endpoint has no variant of that name
     ├── ResourceAlreadyExists           the name is taken by a resource of that kind
     ├── ResourceInUse                   the endpoint is busy (creating, updating, deleting)
     ├── EndpointNotInService            the endpoint exists but does not serve (yet)
     └── ResourceLimitExceeded           a limit on resources or instances would be passed

Each protocol maps them once: the control plane in ``endpoints.control`` (SageMaker
answers ValidationException for missing and existing resources alike), the runtime in
``endpoints.invocations``.
"""

from __future__ import annotations

from modelyard.errors import InvalidRequest, ModelyardError

__all__ = [
    "EndpointNotInService",
    "InvalidInvocation",
    "InvalidParameterValue",
    "InvalidTargetModel",
    "ResourceAlreadyExists",
    "ResourceInUse",
    "ResourceLimitExceeded",
    "ResourceNotFound",
    "VariantNotFound",
]


class InvalidParameterValue(InvalidRequest):
    """A parameter has a value the operation cannot accept."""


class InvalidInvocation(InvalidRequest):
    """The invocation request is invalid."""


class InvalidTargetModel(InvalidRequest):
    """The target model cannot be served by this endpoint."""


class ResourceNotFound(ModelyardError):
    """The resource was not found."""


class VariantNotFound(ResourceNotFound):
    """The endpoint has no variant of that name."""


class ResourceAlreadyExists(ModelyardError):
    """A resource of that name already exists."""


class ResourceInUse(ModelyardError):
    """The resource is busy with another operation."""


class EndpointNotInService(ModelyardError):
    """The endpoint is not in service."""


class ResourceLimitExceeded(ModelyardError):
    """A resource limit would be exceeded."""
