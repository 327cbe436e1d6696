"""Errors of the AWS protocols, and how domain errors become AWS error codes.

    ModelyardError
     └── InvalidRequest
          ├── AwsProtocolError            the request does not follow the AWS protocol
          │    ├── UnknownOperation        X-Amz-Target names no operation we serve
          │    └── MalformedRequest        the body is not a JSON object
          └── InvalidParameter            a member breaks its constraints (ValidationException)
               └── InvalidPaginationToken  a NextToken we did not give, or for another query

Each AWS service has one :class:`ErrorTable`: domain error classes to the error code and
status its clients expect (``__type`` in the body and ``x-amzn-errortype``), looked up
along the error's class hierarchy. The protocol errors above have the codes every AWS
JSON service shares unless a table says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modelyard.aws.sigv4 import (
    IncompleteSignature,
    InvalidSignature,
    MissingSignature,
    UnknownAccessKey,
)
from modelyard.errors import AccessDenied, InvalidRequest

__all__ = [
    "INTERNAL_FAILURE",
    "AwsProtocolError",
    "ErrorCode",
    "ErrorTable",
    "InvalidPaginationToken",
    "InvalidParameter",
    "MalformedRequest",
    "UnknownOperation",
]


class AwsProtocolError(InvalidRequest):
    """The request does not follow the AWS protocol."""


class UnknownOperation(AwsProtocolError):
    """The operation is not known to this service."""


class MalformedRequest(AwsProtocolError):
    """The request body could not be read as the protocol requires."""


class InvalidParameter(InvalidRequest):
    """A parameter of the request does not satisfy its constraints."""


class InvalidPaginationToken(InvalidParameter):
    """Invalid pagination token."""


@dataclass(frozen=True, kw_only=True)
class ErrorCode:
    """An AWS error as the client sees it: its code and HTTP status."""

    #: The error code (``__type``, ``x-amzn-errortype``): what botocore raises.
    code: str
    #: The HTTP status.
    status: int


#: What an error nobody mapped becomes: AWS's own code for a fault of the service.
INTERNAL_FAILURE = ErrorCode(code="InternalFailure", status=500)

#: The codes every AWS service answers a signature it cannot accept with.
_SIGNATURE_CODES: dict[type[Exception], ErrorCode] = {
    MissingSignature: ErrorCode(code="MissingAuthenticationTokenException", status=403),
    IncompleteSignature: ErrorCode(code="IncompleteSignature", status=400),
    UnknownAccessKey: ErrorCode(code="UnrecognizedClientException", status=403),
    InvalidSignature: ErrorCode(code="InvalidSignatureException", status=403),
    # A signer who may not call the operation (not in the group it needs).
    AccessDenied: ErrorCode(code="AccessDeniedException", status=403),
}

#: The codes every AWS JSON service answers protocol errors with.
_PROTOCOL_CODES: dict[type[Exception], ErrorCode] = {
    UnknownOperation: ErrorCode(code="UnknownOperationException", status=400),
    MalformedRequest: ErrorCode(code="SerializationException", status=400),
    InvalidParameter: ErrorCode(code="ValidationException", status=400),
}


class ErrorTable:
    """One service's domain-error → :class:`ErrorCode` mapping, the one place it lives.

    >>> table = ErrorTable({ResourceNotFound: ErrorCode(code="ValidationException", status=400)})
    >>> table.code_for(ResourceNotFound("..."))
    ErrorCode(code='ValidationException', status=400)
    """

    def __init__(
        self,
        codes: Mapping[type[Exception], ErrorCode],
        default: ErrorCode = INTERNAL_FAILURE,
        *,
        json_protocol: bool = True,
    ) -> None:
        # A REST service (SageMaker Runtime) has no X-Amz-Target to get wrong: it leaves
        # the AWS JSON protocol's own codes out.
        self._codes = {
            **_SIGNATURE_CODES,
            **(_PROTOCOL_CODES if json_protocol else {}),
            **codes,
        }
        self._default = default

    def code_for(self, exc: BaseException) -> ErrorCode:
        """The code of ``exc``: its class's, else its nearest listed ancestor's, else the default."""
        for cls in type(exc).__mro__:
            code = self._codes.get(cls)
            if code is not None:
                return code
        return self._default

    def codes(self) -> list[ErrorCode]:
        """Every code the table answers with, its default included (for the API's document)."""
        return list(dict.fromkeys([*self._codes.values(), self._default]))
