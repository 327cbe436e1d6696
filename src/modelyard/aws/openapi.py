"""The OpenAPI part of the AWS JSON route: ``POST /`` and the operations it dispatches.

One path serves every AWS JSON service, so one part documents it, built from the
services mounted: ``X-Amz-Target`` lists every ``<Prefix>.<Operation>`` they answer. The
operations' own shapes are the AWS service models' (botocore ships them); here the body
is any JSON object, and the error answers are the shape every AWS JSON client parses.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.aws.json_protocol import AwsJsonService
from modelyard.openapi import JsonObject, OpenApiPart

__all__ = ["part"]

_TAG = "aws"


def _content(schema: JsonObject) -> JsonObject:
    return {
        "application/x-amz-json-1.1": {"schema": schema},
        "application/x-amz-json-1.0": {"schema": schema},
    }


def _error(description: str, codes: list[str]) -> JsonObject:
    return {
        "description": description,
        "headers": {
            "x-amzn-errortype": {
                "description": "The error code, as botocore reads it.",
                "required": True,
                "schema": {"type": "string", "enum": codes},
            }
        },
        "content": _content({"$ref": "#/components/schemas/AwsJsonError"}),
    }


def _codes_of(services: Sequence[AwsJsonService], status: int, first: list[str]) -> list[str]:
    """``first``, then every other code of ``status`` the services' error tables answer
    (Step Functions names its errors: StateMachineDoesNotExist, InvalidArn, ...)."""
    more = {
        code.code
        for service in services
        for table in service.error_tables()
        for code in table.codes()
        if code.status == status
    }
    return first + sorted(more - set(first))


def part(services: Sequence[AwsJsonService]) -> OpenApiPart:
    """``POST /`` for ``services``."""
    targets = sorted(
        f"{service.target_prefix}.{operation}"
        for service in services
        for operation in service.operations
    )
    return OpenApiPart(
        paths={
            "/": {
                "post": {
                    "operationId": "awsJsonOperation",
                    "summary": "An AWS JSON 1.0/1.1 operation, named by X-Amz-Target",
                    "description": (
                        "How boto3 calls the control planes of AWS services (SageMaker, ...): "
                        "the operation is named by the X-Amz-Target header, its input is the "
                        "JSON body, its output the JSON answer, as the service's API "
                        "reference describes them. When the server has a management token, "
                        "requests must carry an AWS Signature Version 4 made with it as the "
                        "secret access key."
                    ),
                    "tags": [_TAG],
                    "parameters": [
                        {
                            "name": "X-Amz-Target",
                            "in": "header",
                            "required": True,
                            "description": "`<TargetPrefix>.<Operation>`.",
                            "schema": {"type": "string", "enum": targets},
                        }
                    ],
                    "requestBody": {
                        "required": False,
                        "content": _content({"type": "object"}),
                    },
                    "responses": {
                        "200": {
                            "description": "The operation's output shape.",
                            "content": _content({"type": "object"}),
                        },
                        "400": _error(
                            "The request cannot be served: an unknown operation, a body "
                            "that is not a JSON object, a member that breaks its "
                            "constraints, a missing or existing resource, a limit.",
                            _codes_of(
                                services,
                                400,
                                [
                                    "UnknownOperationException",
                                    "SerializationException",
                                    "ValidationException",
                                    "ResourceLimitExceeded",
                                    "IncompleteSignature",
                                ],
                            ),
                        ),
                        "403": _error(
                            "The request is not signed, or not with a credential the server "
                            "knows, or its signature does not match.",
                            [
                                "MissingAuthenticationTokenException",
                                "UnrecognizedClientException",
                                "InvalidSignatureException",
                            ],
                        ),
                        "500": _error("A fault of the service.", ["InternalFailure"]),
                        "503": _error(
                            "A service the operation needs (database, object store) failed; "
                            "try again.",
                            ["ServiceUnavailable"],
                        ),
                    },
                }
            }
        },
        components={
            "schemas": {
                "AwsJsonError": {
                    "type": "object",
                    "required": ["__type", "message"],
                    "properties": {
                        "__type": {"type": "string", "description": "The error code."},
                        "message": {"type": "string"},
                        "Message": {"type": "string"},
                    },
                }
            }
        },
        tags=[{"name": _TAG, "description": "AWS control planes as boto3 calls them."}],
    )
