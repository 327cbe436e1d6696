"""The AWS protocols modelyard speaks, shared by every area that offers an AWS API.

``json_protocol`` dispatches AWS JSON 1.0/1.1 requests (``X-Amz-Target``) to the
services areas register; ``errors`` maps domain errors to AWS error codes, one table per
service; ``shapes`` validates request members against the service model's constraints;
``pagination`` makes and checks ``NextToken`` values.
"""

from __future__ import annotations

from modelyard.aws.errors import (
    AwsProtocolError,
    ErrorCode,
    ErrorTable,
    InvalidPaginationToken,
    InvalidParameter,
    MalformedRequest,
    UnknownOperation,
)
from modelyard.aws.json_protocol import AwsJsonService, Handler
from modelyard.aws.pagination import decode_token, encode_token
from modelyard.aws.shapes import EpochSeconds, Shape, matching, parse, render

__all__ = [
    "AwsJsonService",
    "AwsProtocolError",
    "EpochSeconds",
    "ErrorCode",
    "ErrorTable",
    "Handler",
    "InvalidPaginationToken",
    "InvalidParameter",
    "MalformedRequest",
    "Shape",
    "UnknownOperation",
    "decode_token",
    "encode_token",
    "matching",
    "parse",
    "render",
]
