"""The gateway area's domain errors (the API Gateway protocol maps them in one table).

::

    ModelyardError
    ├── InvalidRequest
    │   ├── BadRequest                 a parameter or document is not valid
    │   └── Conflict                   the thing exists, or is in use
    └── GatewayNotFound                no such API, resource, method, stage, key, plan...
"""

from __future__ import annotations

from modelyard.errors import InvalidRequest, ModelyardError

__all__ = ["BadRequest", "Conflict", "GatewayNotFound"]


class BadRequest(InvalidRequest):
    """Invalid request input."""


class Conflict(InvalidRequest):
    """The resource exists already, or is in use."""


class GatewayNotFound(ModelyardError):
    """Invalid identifier specified."""
