"""The rules of Task states: the Resource ARN, Credentials, timeouts and heartbeats."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from modelyard.workflows.validation_model import ARN_PARTITION, Language
from modelyard.workflows.validation_rules import Checker

__all__ = [
    "check_task",
]

_LAMBDA_ARN: Final = re.compile(
    ARN_PARTITION + r":lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[$\w-]+)?\Z"
)
_ACTIVITY_ARN: Final = re.compile(ARN_PARTITION + r":states:[a-z0-9-]+:\d{12}:activity:\S+\Z")
_INTEGRATION_ARN: Final = re.compile(
    ARN_PARTITION + r":states:::(?P<service>[a-z0-9-]+):(?P<api>[A-Za-z0-9-]+(?::[A-Za-z0-9-]+)*)"
    r"(?P<pattern>\.sync(?::2)?|\.waitForTaskToken)?\Z"
)
#: Services whose optimized integration has no ``.sync`` (run a job) pattern.
_NO_SYNC: Final = frozenset(
    {"lambda", "sns", "sqs", "dynamodb", "events", "apigateway", "aws-sdk", "bedrock-agentcore"}
)
#: Services whose optimized integration has no ``.waitForTaskToken`` (callback) pattern.
_NO_CALLBACK: Final = frozenset(
    {"athena", "batch", "codebuild", "elasticmapreduce", "emr-containers", "emr-serverless"}
    | {"glue", "databrew", "mediaconvert", "sagemaker", "dynamodb", "bedrock-agentcore"}
)


def _resource_problem(resource: str) -> str | None:
    if not resource.startswith("arn:"):
        return "Value is not a valid resource ARN"
    if _LAMBDA_ARN.match(resource) or _ACTIVITY_ARN.match(resource):
        return None
    match = _INTEGRATION_ARN.match(resource)
    pattern = match.group("pattern") if match else None
    service = match.group("service") if match else ""
    if (
        match is None
        or (pattern in (".sync", ".sync:2") and service in _NO_SYNC)
        or (pattern == ".sync:2" and service != "states")
        or (pattern == ".waitForTaskToken" and service in _NO_CALLBACK)
    ):
        return (
            f"The resource provided {resource} is not recognized. The value is not a valid "
            "resource ARN, or the resource is not available in this region."
        )
    return None


def check_task(
    checker: Checker,
    state: Mapping[str, Any],
    fields: Mapping[str, Any],
    location: str,
    language: Language,
) -> None:
    """Check a Task state's Resource, Credentials, timeout and heartbeat."""
    resource = state.get("Resource")
    if (
        checker.required(state, ("Resource",), location)
        and checker.typed(resource, str, f"{location}/Resource")
        and (problem := _resource_problem(str(resource))) is not None
    ):
        checker.schema(problem, f"{location}/Resource")
    if "Credentials" in fields:
        where = f"{location}/Credentials"
        credentials = fields["Credentials"]
        if isinstance(resource, str) and _ACTIVITY_ARN.match(resource):
            checker.schema("The field 'Credentials' is not supported for activities", where)
        elif checker.typed(credentials, dict, where):
            role_fields = {"RoleArn", "RoleArn.$"} if language is Language.JSONPATH else {"RoleArn"}
            checker.supported(credentials, role_fields, where)
            if not role_fields & set(credentials):
                checker.schema("The field 'RoleArn' is required but was missing", where)
            elif language is Language.JSONPATH:
                checker.template(credentials, where)
            else:
                checker.jsonata_value(credentials, where)
    timeouts: dict[str, object] = {}
    for field in ("TimeoutSeconds", "HeartbeatSeconds"):
        checker.exclusive(state, (field, f"{field}Path"), f"{location}/{field}")
        if field in fields and checker.number(
            fields[field], f"{location}/{field}", minimum=1, language=language
        ):
            timeouts[field] = fields[field]
        if f"{field}Path" in fields:
            checker.reference_path(fields[f"{field}Path"], f"{location}/{field}Path")
    timeout, heartbeat = timeouts.get("TimeoutSeconds"), timeouts.get("HeartbeatSeconds")
    if isinstance(timeout, int) and isinstance(heartbeat, int) and heartbeat >= timeout:
        checker.schema(
            "HeartbeatSeconds must be smaller than TimeoutSeconds", f"{location}/HeartbeatSeconds"
        )
