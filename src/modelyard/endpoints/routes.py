"""The HTTP routes of the endpoints area besides the AWS JSON control plane.

The SageMaker control plane is an :class:`~modelyard.aws.json_protocol.AwsJsonService`
(``endpoints.control.service``) that ``platform.py`` mounts on ``POST /`` together with
the other areas' AWS services; these are the area's own paths.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.endpoints import admin, invocations
from modelyard.endpoints.service import EndpointService

__all__ = ["routes"]


def routes(endpoints: EndpointService, verifier: SigV4Verifier | None = None) -> list[BaseRoute]:
    """InvokeEndpoint (``POST /endpoints/{name}/invocations``), then ``GET /admin/endpoints``.

    With a ``verifier``, InvokeEndpoint requires a valid Signature Version 4, as boto3's
    ``sagemaker-runtime`` client sends.
    """
    return [*invocations.routes(endpoints, verifier), *admin.routes(endpoints)]
