"""The HTTP routes of the functions area: the Lambda API, then modelyard's own routes."""

from __future__ import annotations

from starlette.routing import BaseRoute

from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.functions import admin, lambda_api
from modelyard.functions.service import FunctionService
from modelyard.serving.protocols.auth import Guard, management_guard

__all__ = ["routes"]


def routes(
    functions: FunctionService,
    verifier: SigV4Verifier | None = None,
    guard: Guard | None = None,
) -> list[BaseRoute]:
    """The Lambda API (``/2015-03-31/functions...``), then ``/functions``.

    With a ``verifier``, the Lambda API requires a valid Signature Version 4, as boto3's
    ``lambda`` client sends it; ``guard`` checks requests to ``/functions`` (default: open).
    """
    authorize = guard or management_guard(None)
    return [*lambda_api.routes(functions, verifier), *admin.routes(functions, authorize)]
