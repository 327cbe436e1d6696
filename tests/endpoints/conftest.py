"""Fixtures of the endpoints tests: a real platform over a home of toy models, boto3 clients.

- ``platform_url`` (module): ``modelyard up``'s platform (two workers) over a home whose
  object store holds the toy models below in the bucket ``models``: ``s3://models/KEY``
  in CreateModel is ``<home>/store/models/KEY``.
- ``sagemaker`` / ``runtime`` (module): boto3's ``sagemaker`` and ``sagemaker-runtime``
  clients of it, retries off (an error is seen as the server sent it).
- ``unique`` (function): names no other test uses.
- ``deploy`` (function) / ``deploy_endpoint``: create models, a config and an endpoint,
  and wait until it is InService.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from tests.fixtures import models
from tests.servers import platform_server

#: The store's bucket the toy models are in.
BUCKET = "models"

#: Features of the toy scikit-learn model.
N_FEATURES = 4

#: Waiters poll every 0.1 s (SageMaker's own delay is 30 s).
FAST_WAITER = {"Delay": 0.1, "MaxAttempts": 300}

#: Archives of the bucket (``s3://models/<key>``) and what they answer.
#:   sum.tar.gz            native model: the sum of its inputs, ``[1, 2, 3]`` -> ``[6.0]``
#:   sklearn.tar.gz        LogisticRegression on 4 features (CSV or JSON rows)
#:   predict_error.tar.gz  raises ValueError("cannot predict") on every request
#:   load_error.tar.gz     raises RuntimeError("weights are corrupt") when loaded
#:   echo.tar.gz           answers its inputs
#:   headers.tar.gz        MMS handler answering what it received (see ``headers_model``)
#:   crash.tar.gz          echoes, but kills its worker when the input says "crash"
#:   slow.tar.gz           echoes, but takes a second to load
#:   mme/sum.tar.gz, mme/sklearn.tar.gz   a multi-model prefix
ARCHIVES = (
    "sum.tar.gz",
    "sklearn.tar.gz",
    "predict_error.tar.gz",
    "load_error.tar.gz",
    "echo.tar.gz",
    "headers.tar.gz",
    "crash.tar.gz",
    "slow.tar.gz",
    "mme/sum.tar.gz",
    "mme/sklearn.tar.gz",
)


#: An MMS handler that answers, as JSON, the content type, Accept and custom attributes it
#: received and its body; it sets ``Trace ID: <attributes>`` as its answer's custom
#: attributes, and a body saying "refuse" gets a 400 of its own making.
HEADERS_HANDLER = """
import json


def handle(data, context):
    if data is None:
        return None
    answers = []
    for idx, row in enumerate(data):
        body = bytes(row.get("body") or b"").decode()
        attributes = context.get_request_header(idx, "X-Amzn-SageMaker-Custom-Attributes")
        if attributes is not None:
            context.set_response_header(
                idx, "X-Amzn-SageMaker-Custom-Attributes", f"Trace ID: {attributes}"
            )
        if "refuse" in body:
            context.set_response_status(400, "Bad Request", idx)
            answers.append("the model refuses this input")
            continue
        context.set_response_content_type(idx, "application/json")
        answers.append(json.dumps({
            "content_type": context.get_request_header(idx, "Content-Type"),
            "accept": context.get_request_header(idx, "Accept"),
            "attributes": attributes,
            "body": body,
        }))
    return answers
"""


def headers_model(parent: Path, name: str = "headers") -> Path:
    """The model of :data:`HEADERS_HANDLER`."""
    folder = parent / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_handler.py").write_text(HEADERS_HANDLER.lstrip())
    return folder


def build_home(home: Path) -> Path:
    """Write the toy models' archives into ``home``'s store; returns ``home``."""
    bucket = home / "store" / BUCKET
    sources = home / "sources"
    (bucket / "mme").mkdir(parents=True, exist_ok=True)
    folders = {
        "sum": models.sum_model(sources),
        "sklearn": models.sklearn_model(sources, n_features=N_FEATURES),
        "predict_error": models.predict_error_model(sources),
        "load_error": models.load_error_model(sources),
        "echo": models.memory_hog_model(sources, name="echo", mib=1),
        "headers": headers_model(sources),
        "crash": models.crash_model(sources),
        "slow": models.slow_load_model(sources, home / "loads.txt", name="slow", seconds=1.0),
    }
    for name, folder in folders.items():
        archive = models.tarball(folder)
        shutil.copy(archive, bucket / f"{name}.tar.gz")
        if name in ("sum", "sklearn"):
            shutil.copy(archive, bucket / "mme" / f"{name}.tar.gz")
    return home


def clients(url: str) -> tuple[Any, Any]:
    """boto3 ``sagemaker`` and ``sagemaker-runtime`` clients of ``url``, retries off."""
    options: dict[str, Any] = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "x",
        "aws_secret_access_key": "x",
        "config": Config(retries={"total_max_attempts": 1}, read_timeout=120),
    }
    return boto3.client("sagemaker", **options), boto3.client("sagemaker-runtime", **options)


@pytest.fixture(scope="module")
def platform_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_home(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def platform_url(platform_home: Path) -> Iterator[str]:
    with platform_server(platform_home, workers=2) as url:
        yield url


@pytest.fixture(scope="module")
def sagemaker(platform_url: str) -> Iterator[Any]:
    client, _ = clients(platform_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def runtime(platform_url: str) -> Iterator[Any]:
    _, client = clients(platform_url)
    yield client
    client.close()


_NAMES = itertools.count()


def fresh(stem: str) -> str:
    """``fresh("churn")`` -> ``churn-17``: a name nothing else of the session uses."""
    return f"{stem}-{next(_NAMES)}"


@pytest.fixture
def unique() -> Callable[[str], str]:
    """``unique("churn")`` -> ``churn-17``: names for one test, unused elsewhere."""
    number = next(_NAMES)
    return lambda stem: f"{stem}-{number}"


@dataclass(frozen=True)
class Variant:
    """A production variant to deploy: its name, the archive its model serves, weight, count."""

    name: str
    archive: str
    weight: float = 1.0
    count: int = 1
    multi_model: bool = False


def create_model(sagemaker: Any, name: str, archive: str, *, multi_model: bool = False) -> str:
    """CreateModel of ``s3://models/<archive>``; returns the model's ARN."""
    container: dict[str, Any] = {
        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/modelyard:latest",
        "ModelDataUrl": f"s3://{BUCKET}/{archive}",
    }
    if multi_model:
        container["Mode"] = "MultiModel"
    answer = sagemaker.create_model(
        ModelName=name,
        PrimaryContainer=container,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
    )
    return str(answer["ModelArn"])


def create_config(sagemaker: Any, name: str, variants: Sequence[Variant], prefix: str) -> None:
    """A model per variant (``<prefix>-<variant>``) and the config ``name`` serving them."""
    for variant in variants:
        create_model(
            sagemaker,
            f"{prefix}-{variant.name}",
            variant.archive,
            multi_model=variant.multi_model,
        )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant.name,
                "ModelName": f"{prefix}-{variant.name}",
                "InitialInstanceCount": variant.count,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": variant.weight,
            }
            for variant in variants
        ],
    )


def deploy_endpoint(
    sagemaker: Any, name: str, *variants: Variant, tags: Sequence[dict[str, str]] = ()
) -> str:
    """Models, the config ``<name>-config`` and the endpoint ``name``, InService on return.

    Without variants, one variant ``main`` serves the sum model.
    """
    config = f"{name}-config"
    create_config(sagemaker, config, variants or (Variant("main", "sum.tar.gz"),), name)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config, Tags=list(tags))
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)
    return name


Deploy = Callable[..., str]


@pytest.fixture
def deploy(sagemaker: Any) -> Deploy:
    """``deploy(*variants, tags=[...]) -> endpoint name``, InService when it returns."""

    def deploy_(*variants: Variant, tags: Sequence[dict[str, str]] = ()) -> str:
        return deploy_endpoint(sagemaker, fresh("endpoint"), *variants, tags=tags)

    return deploy_
