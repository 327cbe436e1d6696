"""Endpoints: SageMaker models, endpoint configs, endpoints, their runtime, data capture.

:class:`EndpointService` is the area's facade (``platform.py`` builds it and hands it
the serving facade); ``control`` is the SageMaker control plane over AWS JSON,
``invocations`` SageMaker Runtime's InvokeEndpoint, ``admin`` the endpoint metadata
registry's route.
"""

from __future__ import annotations

from modelyard.endpoints.arns import Arns
from modelyard.endpoints.limits import EndpointLimits
from modelyard.endpoints.runtime import (
    InvocationObserver,
    InvocationRecord,
    InvocationRequest,
    InvocationResult,
)
from modelyard.endpoints.service import DesiredWeightAndCapacity, EndpointService

__all__ = [
    "Arns",
    "DesiredWeightAndCapacity",
    "EndpointLimits",
    "EndpointService",
    "InvocationObserver",
    "InvocationRecord",
    "InvocationRequest",
    "InvocationResult",
]
