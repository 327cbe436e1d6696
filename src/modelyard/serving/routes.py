"""Every route of the model server, each protocol's with its own error renderer."""

from __future__ import annotations

from starlette.routing import BaseRoute

from modelyard.serving.dataplane import DataPlane
from modelyard.serving.protocols import admin, kserve, sagemaker

__all__ = ["routes"]


def routes(dataplane: DataPlane) -> list[BaseRoute]:
    """The SageMaker container and MMS routes, the KServe V2 routes, then our own."""
    return [*sagemaker.routes(dataplane), *kserve.routes(dataplane), *admin.routes(dataplane)]
