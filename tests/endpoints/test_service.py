"""The endpoints area's facade over a real database and an in-memory serving facade:
deployments in the background (create, blue/green update, rollback, delete, resume),
the traffic split, the registry, limits, and the invocation records' seam."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from modelyard.endpoints.arns import Arns
from modelyard.endpoints.errors import (
    EndpointNotInService,
    InvalidParameterValue,
    InvalidTargetModel,
    ResourceLimitExceeded,
    ResourceNotFound,
    VariantNotFound,
)
from modelyard.endpoints.runtime import InvocationRecord, InvocationRequest
from modelyard.endpoints.service import DesiredWeightAndCapacity, EndpointLimits, EndpointService
from modelyard.endpoints.traffic import TrafficSplit, target_ref
from modelyard.errors import InferenceFailed
from modelyard.serving.facade import ModelRef
from modelyard.storage import Database
from modelyard.storage.endpoint_configs import ProductionVariant
from modelyard.storage.endpoints import DeployedVariant, EndpointStatus
from modelyard.storage.sagemaker_models import ContainerDefinition, ContainerMode
from modelyard.storage.tags import ResourceType, Tag
from tests.endpoints.fakes import FakeInvoker, answered_by

T = TypeVar("T")

ARNS = Arns(region="us-east-1", account_id="000000000000")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    database.migrate()
    yield database
    database.close()


def run(work: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(work())  # type: ignore[arg-type]


def service_of(
    database: Database, invoker: FakeInvoker, limits: EndpointLimits | None = None
) -> EndpointService:
    return EndpointService(
        database=database, invoker=invoker, arns=ARNS, limits=limits, drain_timeout_s=5
    )


async def model(service: EndpointService, name: str, *, multi: bool = False) -> None:
    await service.create_model(
        name=name,
        primary_container=ContainerDefinition(
            model_data_url=f"s3://models/{name}{'/' if multi else '.tar.gz'}",
            mode=ContainerMode.MULTI_MODEL if multi else ContainerMode.SINGLE_MODEL,
        ),
    )


async def config(
    service: EndpointService, name: str, *variants: tuple[str, str, float, int]
) -> None:
    """A config of (variant, model, weight, count) tuples; missing models are created."""
    for _, model_name, _, _ in variants:
        try:
            await service.describe_model(model_name)
        except ResourceNotFound:
            await model(service, model_name)
    await service.create_endpoint_config(
        name=name,
        production_variants=[
            ProductionVariant(
                variant_name=v, model_name=m, initial_variant_weight=w, initial_instance_count=c
            )
            for v, m, w, c in variants
        ],
    )


async def status_becomes(
    service: EndpointService, name: str, wanted: EndpointStatus, timeout: float = 5
) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            endpoint = await service.describe_endpoint(name)
            if endpoint.status is wanted:
                return endpoint
            await asyncio.sleep(0.005)


async def gone(service: EndpointService, name: str) -> None:
    async with asyncio.timeout(5):
        while True:
            try:
                await service.describe_endpoint(name)
            except ResourceNotFound:
                return
            await asyncio.sleep(0.005)


def request(name: str, **extra: Any) -> InvocationRequest:
    return InvocationRequest(
        endpoint_name=name, body=b"[1]", content_type="application/json", **extra
    )


def test_create_answers_creating_and_deploys_in_the_background(database: Database) -> None:
    invoker = FakeInvoker(gate=asyncio.Event())

    async def scenario() -> None:
        service = service_of(database, invoker)
        await service.start()
        await config(service, "c", ("main", "m", 1.0, 2))

        created = await service.create_endpoint(name="e", config_name="c")
        assert created.status is EndpointStatus.CREATING
        with pytest.raises(EndpointNotInService, match="Creating"):
            await service.invoke(request("e"))
        assert invoker.gate is not None
        invoker.gate.set()
        ready = await status_becomes(service, "e", EndpointStatus.IN_SERVICE)

        assert invoker.loads == [("sagemaker/m", 2)]
        assert [v.current_instance_count for v in ready.current.variants] == [2]
        result = await service.invoke(request("E"))
        assert result.variant_name == "main" and answered_by(result.answer) == "sagemaker/m"
        assert invoker.invocations[0][1] == "file:///store/models/m.tar.gz"
        await service.stop()

    run(scenario)


def test_an_endpoint_described_in_service_takes_invocations_at_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The status is stored, then published to the invocations: a describe must not answer
    # InService in between, as a client polling for it invokes right away. The store is
    # made slow to return after its write, so the window is wide open.
    invoker = FakeInvoker()

    async def scenario() -> None:
        service = service_of(database, invoker)
        endpoints = service._endpoints  # the seam between the write and the publish
        complete = endpoints.complete

        def slow_complete(*args: Any) -> Any:
            done = complete(*args)
            time.sleep(0.2)
            return done

        monkeypatch.setattr(endpoints, "complete", slow_complete)
        await service.start()
        await config(service, "c", ("main", "m", 1.0, 1))
        await service.create_endpoint(name="e", config_name="c")
        while (await service.describe_endpoint("e")).status is EndpointStatus.CREATING:
            await asyncio.sleep(0.01)
        result = await service.invoke(request("e"))
        assert result.variant_name == "main"
        await service.stop()

    run(scenario)


def test_a_model_that_cannot_load_fails_the_endpoint(database: Database) -> None:
    invoker = FakeInvoker(broken={"sagemaker/bad"})

    async def scenario() -> None:
        service = service_of(database, invoker)
        await service.start()
        await config(service, "c", ("good", "ok", 1.0, 1), ("bad", "bad", 1.0, 1))

        await service.create_endpoint(name="e", config_name="c")
        failed = await status_becomes(service, "e", EndpointStatus.FAILED)

        assert failed.failure_reason == "model 'sagemaker/bad': weights are corrupt"
        assert "sagemaker/ok" in invoker.unloads  # nothing stays loaded for a failed endpoint
        with pytest.raises(EndpointNotInService):
            await service.invoke(request("e"))
        with pytest.raises(InvalidParameterValue, match="failed endpoint"):
            await service.update_endpoint(name="e", config_name="c")
        await service.stop()

    run(scenario)


def test_an_update_is_blue_green(database: Database) -> None:
    invoker = FakeInvoker()

    async def scenario() -> None:
        service = service_of(database, invoker)
        await service.start()
        await config(service, "blue", ("blue", "m-blue", 1.0, 1))
        await config(service, "green", ("green", "m-green", 1.0, 3))
        await service.create_endpoint(name="e", config_name="blue")
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)
        invoker.gate = asyncio.Event()
        invoker.invocation_gate = asyncio.Event()
        in_flight = asyncio.create_task(service.invoke(request("e")))
        await asyncio.sleep(0.01)

        updating = await service.update_endpoint(name="e", config_name="green")
        assert updating.status is EndpointStatus.UPDATING
        assert updating.pending is not None and updating.pending.config_name == "green"
        invoker.gate.set()
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)
        await asyncio.sleep(0.05)

        # The old model serves what it started until it is done; then it is unloaded.
        assert "sagemaker/m-blue" not in invoker.unloads
        invoker.invocation_gate.set()
        assert (await in_flight).variant_name == "blue"
        async with asyncio.timeout(5):
            while "sagemaker/m-blue" not in invoker.unloads:
                await asyncio.sleep(0.005)
        assert (await service.invoke(request("e"))).variant_name == "green"
        assert ("sagemaker/m-green", 3) in invoker.loads
        assert (await service.describe_endpoint("e")).current.config_name == "green"
        await service.stop()

    run(scenario)


def test_a_failed_update_rolls_back(database: Database) -> None:
    invoker = FakeInvoker(broken={"sagemaker/m-broken"})

    async def scenario() -> None:
        service = service_of(database, invoker)
        await service.start()
        await config(service, "good", ("main", "m-good", 1.0, 1))
        await config(service, "broken", ("main", "m-broken", 1.0, 1))
        await service.create_endpoint(name="e", config_name="good")
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)

        await service.update_endpoint(name="e", config_name="broken")
        await asyncio.sleep(0.05)
        endpoint = await status_becomes(service, "e", EndpointStatus.IN_SERVICE)

        assert endpoint.current.config_name == "good"
        assert endpoint.failure_reason == "model 'sagemaker/m-broken': weights are corrupt"
        assert endpoint.pending is None
        assert answered_by((await service.invoke(request("e"))).answer) == "sagemaker/m-good"
        assert "sagemaker/m-good" not in invoker.unloads
        await service.stop()

    run(scenario)


def test_weights_and_capacities(database: Database) -> None:
    invoker = FakeInvoker()

    async def scenario() -> None:
        service = service_of(database, invoker)
        await service.start()
        await config(service, "c", ("a", "m-a", 1.0, 1), ("b", "m-b", 1.0, 1))
        await service.create_endpoint(name="e", config_name="c")
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)
        loads = len(invoker.loads)

        await service.update_weights_and_capacities(
            "e", [DesiredWeightAndCapacity(variant_name="A", weight=0.0)]
        )
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)
        weights_only = invoker.loads[loads:]
        await service.update_weights_and_capacities(
            "e", [DesiredWeightAndCapacity(variant_name="b", instance_count=3)]
        )
        endpoint = await status_becomes(service, "e", EndpointStatus.IN_SERVICE)

        assert weights_only == []  # nothing to load for a weight
        assert invoker.loads[loads:] == [("sagemaker/m-b", 3)]
        assert [
            (v.current_weight, v.current_instance_count) for v in endpoint.current.variants
        ] == [
            (0.0, 1),
            (1.0, 3),
        ]
        assert {(await service.invoke(request("e"))).variant_name for _ in range(20)} == {"b"}
        with pytest.raises(VariantNotFound, match=r"\[c\]"):
            await service.update_weights_and_capacities(
                "e", [DesiredWeightAndCapacity(variant_name="c", weight=1)]
            )
        with pytest.raises(ResourceLimitExceeded):
            await service.update_weights_and_capacities(
                "e", [DesiredWeightAndCapacity(variant_name="b", instance_count=65)]
            )
        await service.stop()

    run(scenario)


def test_delete_while_creating_cancels_and_unloads(database: Database) -> None:
    invoker = FakeInvoker(gate=asyncio.Event())

    async def scenario() -> None:
        service = service_of(database, invoker)
        await service.start()
        await config(service, "c", ("main", "m", 1.0, 1))
        await service.create_endpoint(name="e", config_name="c")
        await asyncio.sleep(0.01)

        await service.delete_endpoint("e")
        with pytest.raises(ResourceNotFound):
            await service.invoke(request("e"))
        await gone(service, "e")

        assert invoker.unloads == ["sagemaker/m"]
        with pytest.raises(ResourceNotFound):
            await service.delete_endpoint("e")
        # The name is free again.
        assert invoker.gate is not None
        invoker.gate.set()
        await service.create_endpoint(name="e", config_name="c")
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)
        await service.stop()

    run(scenario)


def test_a_restart_resumes_what_was_under_way(database: Database) -> None:
    first = FakeInvoker(gate=asyncio.Event())

    async def before_the_stop() -> None:
        service = service_of(database, first)
        await service.start()
        await config(service, "c", ("main", "m", 1.0, 2))
        await config(service, "c2", ("main", "m2", 1.0, 1))
        await service.create_endpoint(name="creating", config_name="c")
        assert first.gate is not None
        first.gate.set()
        await service.create_endpoint(name="serving", config_name="c")
        await service.create_endpoint(name="updating", config_name="c")
        await status_becomes(service, "serving", EndpointStatus.IN_SERVICE)
        await status_becomes(service, "updating", EndpointStatus.IN_SERVICE)
        first.gate.clear()
        await service.create_endpoint(name="late", config_name="c2")
        await service.update_endpoint(name="updating", config_name="c2")
        await service.stop()

    run(before_the_stop)
    second = FakeInvoker()

    async def after_the_restart() -> None:
        service = service_of(database, second)
        await service.start()

        assert (await service.invoke(request("serving"))).variant_name == "main"
        await status_becomes(service, "late", EndpointStatus.IN_SERVICE)
        updated = await status_becomes(service, "updating", EndpointStatus.IN_SERVICE)
        assert updated.current.config_name == "c2"
        # Replicas of the models serving are restored; the rest load on first use.
        assert ("sagemaker/m", 2) in second.loads and ("sagemaker/m2", 1) in second.loads
        await service.stop()

    run(after_the_restart)


def test_endpoints_of_a_category(database: Database) -> None:
    async def scenario() -> None:
        service = service_of(database, FakeInvoker())
        await service.start()
        await config(service, "c", ("main", "m", 1.0, 1))
        for name, value in [("a", "nlp, Vision"), ("b", "vision"), ("c", "nlp-ish")]:
            await service.create_endpoint(
                name=name, config_name="c", tags=[Tag(key="category", value=value)]
            )
        await service.create_endpoint(name="d", config_name="c")

        vision = await service.endpoints_of_category("VISION")
        nlp = await service.endpoints_of_category(" nlp ")

        assert [e.name for e in vision] == ["a", "b"]
        assert [e.name for e in nlp] == ["a"]
        await service.stop()

    run(scenario)


def test_resource_limits(database: Database) -> None:
    limits = EndpointLimits(max_models=2, max_endpoint_configs=1, max_endpoints=1, max_tags=2)

    async def scenario() -> None:
        service = service_of(database, FakeInvoker(), limits)
        await service.start()
        await config(service, "c", ("main", "m", 1.0, 1))
        await service.create_endpoint(name="e", config_name="c")

        await model(service, "m2")
        with pytest.raises(ResourceLimitExceeded, match="2 models"):
            await model(service, "m3")
        with pytest.raises(ResourceLimitExceeded, match="1 endpoint configurations"):
            await config(service, "c2", ("main", "m", 1.0, 1))
        with pytest.raises(ResourceLimitExceeded, match="1 endpoints"):
            await service.create_endpoint(name="e2", config_name="c")
        with pytest.raises(InvalidParameterValue, match="2 tags"):
            await service.add_tags(
                ARNS.of(ResourceType.MODEL, "m"),
                [Tag(key=k, value="") for k in "xyz"],
            )
        await service.stop()

    run(scenario)


def test_create_model_checks_its_url(database: Database) -> None:
    async def scenario() -> None:
        service = service_of(database, FakeInvoker())

        with pytest.raises(InvalidParameterValue, match="'primaryContainer.modelDataUrl'"):
            await service.create_model(
                name="m", primary_container=ContainerDefinition(model_data_url="/forbidden/m")
            )
        with pytest.raises(InvalidParameterValue, match="one container"):
            await service.create_model(
                name="m",
                containers=[ContainerDefinition(model_data_url="s3://a/b")] * 2,
            )

    run(scenario)


def test_an_endpoint_outlives_its_model_and_config(database: Database) -> None:
    invoker = FakeInvoker()

    async def scenario() -> None:
        service = service_of(database, invoker)
        await service.start()
        await config(service, "c", ("main", "m", 1.0, 1))
        await service.create_endpoint(name="e", config_name="c")
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)

        await service.delete_model("m")
        await service.delete_endpoint_config("c")

        assert invoker.unloads == []  # the endpoint still serves it
        assert answered_by((await service.invoke(request("e"))).answer) == "sagemaker/m"
        assert (await service.describe_endpoint("e")).current.config_name == "c"
        await service.stop()

    run(scenario)


def test_every_invocation_ends_as_one_record(database: Database) -> None:
    invoker = FakeInvoker()
    records: list[InvocationRecord] = []

    class Recorder:
        def observe(self, record: InvocationRecord) -> None:
            records.append(record)

    async def scenario() -> None:
        service = service_of(database, invoker)
        service.runtime.observers.append(Recorder())
        await service.start()
        await config(service, "c", ("main", "m", 1.0, 1))
        await service.create_endpoint(name="e", config_name="c")
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)

        await service.invoke(request("e", inference_id="id-1", custom_attributes="a=1"))
        invoker.failure = InferenceFailed("cannot predict")
        with pytest.raises(InferenceFailed):
            await service.invoke(request("e"))
        with pytest.raises(ResourceNotFound):
            await service.invoke(request("nobody"))
        await service.stop()

    run(scenario)

    answered, failed, unknown = records
    assert answered.request.inference_id == "id-1" and answered.variant_name == "main"
    assert answered.model == ModelRef("sagemaker/m", "file:///store/models/m.tar.gz")
    assert answered.answer is not None and answered.answer.custom_attributes == "a=1"
    assert answered.error is None and answered.seconds >= 0 and answered.started_at > 0
    assert isinstance(failed.error, InferenceFailed) and failed.answer is None
    assert unknown.variant_name is None and isinstance(unknown.error, ResourceNotFound)


def deployed(
    name: str, weight: float, mode: ContainerMode = ContainerMode.SINGLE_MODEL
) -> DeployedVariant:
    return DeployedVariant(
        variant_name=name,
        model_name=f"m-{name}",
        model_data_url=f"file:///store/{name}/",
        mode=mode,
        instance_type=None,
        current_weight=weight,
        desired_weight=weight,
        current_instance_count=1,
        desired_instance_count=1,
    )


def test_the_split_divides_by_weight() -> None:
    split = TrafficSplit([deployed("a", 7), deployed("zero", 0), deployed("b", 3)])

    assert split.choose(draw=0.0).name == "a"
    assert split.choose(draw=0.699).name == "a"
    assert split.choose(draw=0.701).name == "b"
    assert split.choose(draw=0.999999).name == "b"
    assert split.choose("ZERO").name == "zero"  # a targeted variant answers whatever its weight
    with pytest.raises(VariantNotFound):
        split.choose("c")
    with pytest.raises(EndpointNotInService, match="weights 0"):
        TrafficSplit([deployed("a", 0)]).choose()


def test_targets_of_a_multi_model_variant() -> None:
    variant = deployed("mme", 1, ContainerMode.MULTI_MODEL)

    assert target_ref(variant, "a/b.tar.gz") == ModelRef(
        "sagemaker/m-mme/a/b.tar.gz", "file:///store/mme/a/b.tar.gz"
    )
    for bad in ["", " x", "../x", "a/../x", "/x", "a//b", "a\\b", "x\n", "x" * 1025]:
        with pytest.raises(InvalidTargetModel):
            target_ref(variant, bad)


def test_an_update_may_retain_the_current_weights_and_counts(database: Database) -> None:
    invoker = FakeInvoker()

    async def scenario() -> None:
        service = service_of(database, invoker)
        await service.start()
        await config(service, "c1", ("a", "m", 1.0, 1), ("b", "m", 1.0, 1))
        await config(service, "c2", ("a", "m2", 5.0, 1), ("new", "m2", 2.0, 1))
        await service.create_endpoint(name="e", config_name="c1")
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)
        await service.update_weights_and_capacities(
            "e", [DesiredWeightAndCapacity(variant_name="a", weight=3.0, instance_count=2)]
        )
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)

        await service.update_endpoint(
            name="e",
            config_name="c2",
            retain_all_variant_properties=True,
            exclude_retained=["DesiredInstanceCount"],
        )
        endpoint = await status_becomes(service, "e", EndpointStatus.IN_SERVICE)

        assert [
            (v.variant_name, v.model_name, v.current_weight, v.current_instance_count)
            for v in endpoint.current.variants
        ] == [("a", "m2", 3.0, 1), ("new", "m2", 2.0, 1)]
        await service.stop()

    run(scenario)


def test_deleting_a_model_no_endpoint_serves_unloads_it(database: Database) -> None:
    invoker = FakeInvoker()

    async def scenario() -> None:
        service = service_of(database, invoker)
        await service.start()
        await config(service, "c", ("main", "m", 1.0, 1))
        await service.create_endpoint(name="e", config_name="c")
        await status_becomes(service, "e", EndpointStatus.IN_SERVICE)
        await service.delete_endpoint("e")
        await gone(service, "e")
        unloads = len(invoker.unloads)

        await service.delete_model("m")

        assert invoker.unloads[unloads:] == ["sagemaker/m"]
        await service.stop()

    run(scenario)
