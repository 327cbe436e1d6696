"""A platform stopped and started again over the same home: endpoints come back as they
were, and one stopped while Creating is deployed after the restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.endpoints.conftest import (
    FAST_WAITER,
    Variant,
    build_home,
    clients,
    create_config,
    deploy_endpoint,
)
from tests.servers import platform_server


def test_endpoints_survive_a_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = build_home(tmp_path_factory.mktemp("restart"))
    with platform_server(Path(home), workers=1) as url:
        sagemaker, runtime = clients(url)
        deploy_endpoint(
            sagemaker, "kept", Variant("a", "sum.tar.gz", weight=3), Variant("b", "echo.tar.gz")
        )
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName="kept",
            DesiredWeightsAndCapacities=[{"VariantName": "a", "DesiredWeight": 0}],
        )
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName="kept", WaiterConfig=FAST_WAITER
        )
        create_config(sagemaker, "late-config", [Variant("main", "slow.tar.gz")], "late")
        sagemaker.create_endpoint(EndpointName="late", EndpointConfigName="late-config")
        assert sagemaker.describe_endpoint(EndpointName="late")["EndpointStatus"] == "Creating"
        sagemaker.close()
        runtime.close()

    with platform_server(Path(home), workers=1) as url:
        sagemaker, runtime = clients(url)
        answered = runtime.invoke_endpoint(
            EndpointName="kept", Body=b'"again"', ContentType="application/json"
        )
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName="late", WaiterConfig=FAST_WAITER
        )
        late = runtime.invoke_endpoint(
            EndpointName="late", Body=b'"hi"', ContentType="application/json"
        )
        sagemaker.close()
        runtime.close()

    assert answered["InvokedProductionVariant"] == "b"  # the weights changed before the stop
    assert answered["Body"].read() == b'"again"'
    assert late["Body"].read() == b'"hi"'
