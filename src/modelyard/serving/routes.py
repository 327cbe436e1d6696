"""Every route of the model server, each protocol's with its own error renderer."""

from __future__ import annotations

from starlette.routing import BaseRoute

from modelyard.serving.dataplane import DataPlane
from modelyard.serving.protocols import admin, kserve, sagemaker
from modelyard.serving.protocols.auth import Guard

__all__ = ["routes"]


def routes(dataplane: DataPlane, guard: Guard | None = None) -> list[BaseRoute]:
    """The SageMaker container and MMS routes, the KServe V2 routes, then our own.

    ``guard`` checks requests to the management routes (default: the management token).
    """
    return [
        *sagemaker.routes(dataplane, guard),
        *kserve.routes(dataplane, guard),
        *admin.routes(dataplane),
    ]
