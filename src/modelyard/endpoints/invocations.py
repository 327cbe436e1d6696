"""SageMaker Runtime's InvokeEndpoint over REST, exactly as boto3's ``sagemaker-runtime`` sends it.

    POST /endpoints/{EndpointName}/invocations
    Content-Type, Accept                         the body's type, the answer's types
    X-Amzn-SageMaker-Custom-Attributes           passed to the model verbatim
    X-Amzn-SageMaker-Target-Model                the model of a multi-model variant
    X-Amzn-SageMaker-Target-Variant              the variant, instead of the weighted choice
    X-Amzn-SageMaker-Inference-Id                the caller's id of this inference

The answer is the model's body with its Content-Type, ``x-Amzn-Invoked-Production-Variant``
and, when the model set them, ``X-Amzn-SageMaker-Custom-Attributes``. Errors come as
SageMaker Runtime sends them, with ``x-amzn-errortype``; :data:`ERRORS` is the one place
where domain errors become its codes: ``ValidationError`` (400) for the caller's
mistakes, ``ModelError`` (424, with ``OriginalStatusCode``) when the model failed or
refused the input (its status passed through, as SageMaker passes the container's),
``ModelNotReadyException`` (429), ``ServiceUnavailable`` (503), ``InternalFailure`` (500).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard import errors
from modelyard.aws.errors import INTERNAL_FAILURE, ErrorCode, ErrorTable
from modelyard.aws.json_protocol import verify_request
from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.endpoints.arns import Arns
from modelyard.endpoints.errors import (
    EndpointNotInService,
    InvalidInvocation,
    InvalidParameterValue,
    InvalidTargetModel,
    ResourceNotFound,
)
from modelyard.endpoints.runtime import InvocationRequest
from modelyard.endpoints.service import EndpointService
from modelyard.ids import uuid4_string

__all__ = ["ERRORS", "MAX_BODY_BYTES", "ModelErrorCode", "routes"]

logger = logging.getLogger(__name__)

#: Largest request body (SageMaker Runtime's ``BodyBlob``: 6 MiB).
MAX_BODY_BYTES = 6 * 2**20

#: Content type of a request that names none (the container contract's default).
DEFAULT_CONTENT_TYPE = "application/json"

_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
_PRINTABLE = re.compile(r"\S[\x20-\x7e]*")


@dataclass(frozen=True, kw_only=True)
class ModelErrorCode(ErrorCode):
    """``ModelError``: the model failed, with the status its container would have answered."""

    #: ``OriginalStatusCode``: the model server's status for the failure.
    original_status: int


_VALIDATION = ErrorCode(code="ValidationError", status=400)
_NOT_READY = ErrorCode(code="ModelNotReadyException", status=429)
_UNAVAILABLE = ErrorCode(code="ServiceUnavailable", status=503)


def _model_error(original_status: int) -> ModelErrorCode:
    return ModelErrorCode(code="ModelError", status=424, original_status=original_status)


#: Domain errors → SageMaker Runtime's error codes (looked up along the class hierarchy).
ERRORS = ErrorTable(
    {
        # The caller's mistakes, seen before the model was called.
        ResourceNotFound: _VALIDATION,
        EndpointNotInService: _VALIDATION,
        InvalidInvocation: _VALIDATION,
        InvalidTargetModel: _VALIDATION,
        InvalidParameterValue: _VALIDATION,
        # The model refused the input (decoding, validation in its worker): SageMaker
        # passes the container's 4xx through as ModelError.
        errors.InvalidRequest: _model_error(400),
        errors.PayloadMalformed: _model_error(400),
        errors.UnsupportedContentType: _model_error(415),
        errors.NotAcceptable: _model_error(406),
        errors.PayloadTooLarge: _model_error(413),
        # The model's own code failed.
        errors.InferenceFailed: _model_error(500),
        errors.ModelLoadFailed: _model_error(500),
        errors.ModelTooLarge: _model_error(507),
        # Try again later.
        errors.ModelQuarantined: _NOT_READY,
        errors.ModelNotResident: _NOT_READY,
        errors.WorkerCrashed: _UNAVAILABLE,
        errors.InferenceTimeout: _UNAVAILABLE,
        errors.DatabaseError: _UNAVAILABLE,
        errors.ObjectStoreError: _UNAVAILABLE,
    },
    json_protocol=False,
)


def routes(endpoints: EndpointService, verifier: SigV4Verifier | None = None) -> list[Route]:
    """``POST /endpoints/{name}/invocations``, bound to ``endpoints``."""
    arns = endpoints.arns

    async def invoke(request: Request) -> Response:
        request_id = uuid4_string()
        name = request.path_params["name"]
        try:
            parsed = await _parse(request, name)
            if verifier is not None:
                verify_request(verifier, request, parsed.body)
            result = await endpoints.invoke(parsed)
        except ClientDisconnect:
            raise
        except errors.ModelyardError as exc:
            code = ERRORS.code_for(exc)
            if code.status >= 500:
                logger.warning("InvokeEndpoint %s: %s", name, exc.message)
            return _error(code, exc.message, request_id, name, arns)
        except Exception:  # a bug of ours: the caller still gets SageMaker's shape
            logger.exception("InvokeEndpoint %s failed", name)
            return _error(INTERNAL_FAILURE, "An internal error occurred.", request_id, name, arns)
        answer = result.answer
        headers = {
            "content-type": answer.content_type,
            "x-Amzn-Invoked-Production-Variant": result.variant_name,
            "x-amzn-RequestId": request_id,
        }
        if answer.custom_attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = answer.custom_attributes
        return Response(answer.body, headers=headers)

    return [Route("/endpoints/{name}/invocations", invoke, methods=["POST"])]


#: The headers InvokeEndpoint reads, as ASGI names them (lower case).
_HEADERS = frozenset(
    {
        b"content-type",
        b"content-length",
        b"accept",
        b"x-amzn-sagemaker-custom-attributes",
        b"x-amzn-sagemaker-target-model",
        b"x-amzn-sagemaker-target-variant",
        b"x-amzn-sagemaker-inference-id",
    }
)
_FREE_TEXT = (b"content-type", b"accept", b"x-amzn-sagemaker-custom-attributes")


async def _parse(request: Request, name: str) -> InvocationRequest:
    if len(name) > 63 or not _ENDPOINT_NAME.fullmatch(name):
        raise InvalidInvocation(f"Endpoint name {name!r} is not valid.")
    # One pass over the raw headers: this is the hot path, and each look-up through
    # Starlette's Headers scans them all again. The first of repeated headers wins, as there.
    found: dict[bytes, bytes] = {}
    for key, value in request.scope["headers"]:
        if key in _HEADERS and key not in found:
            found[key] = value
    for header in _FREE_TEXT:
        raw = found.get(header)
        if raw is not None and (len(raw) > 1024 or not raw.isascii()):
            raise InvalidInvocation(
                f"Header {header.decode()} must be at most 1024 US-ASCII characters."
            )
    text = {key.decode(): value.decode("latin-1") for key, value in found.items()}
    variant = text.get("x-amzn-sagemaker-target-variant")
    if variant is not None and (len(variant) > 63 or not _ENDPOINT_NAME.fullmatch(variant)):
        raise InvalidInvocation(f"Target variant {variant!r} is not a valid variant name.")
    inference_id = text.get("x-amzn-sagemaker-inference-id")
    if inference_id is not None and (
        len(inference_id) > 64 or not _PRINTABLE.fullmatch(inference_id)
    ):
        raise InvalidInvocation(
            "Inference id must be 1 to 64 printable characters, not starting with a space."
        )
    return InvocationRequest(
        endpoint_name=name,
        body=await _read(request, text.get("content-length")),
        content_type=text.get("content-type") or DEFAULT_CONTENT_TYPE,
        accept=text.get("accept"),
        custom_attributes=text.get("x-amzn-sagemaker-custom-attributes"),
        target_model=text.get("x-amzn-sagemaker-target-model"),
        target_variant=variant,
        inference_id=inference_id,
    )


async def _read(request: Request, declared: str | None) -> bytes:
    if declared is not None and declared.isdigit():
        if int(declared) > MAX_BODY_BYTES:
            raise InvalidInvocation(_too_large(int(declared)))
        # A declared length the server holds the client to: read it whole.
        return await request.body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidInvocation(_too_large(size))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int) -> str:
    return f"Request payload of {size} bytes exceeds the limit of {MAX_BODY_BYTES} bytes."


def _error(code: ErrorCode, message: str, request_id: str, endpoint: str, arns: Arns) -> Response:
    body: dict[str, object] = {"message": message, "Message": message}
    if isinstance(code, ModelErrorCode):
        side = "client" if code.original_status < 500 else "server"
        body = {
            "ErrorCode": f"{side.upper()}_ERROR_FROM_MODEL",
            "Message": (
                f"Received {side} error ({code.original_status}) from model with message "
                f'"{message}".'
            ),
            "OriginalStatusCode": code.original_status,
            "OriginalMessage": message,
            "LogStreamArn": (
                f"arn:aws:logs:{arns.region}:{arns.account_id}:log-group:"
                f"/aws/sagemaker/Endpoints/{endpoint}"
            ),
        }
    return Response(
        orjson.dumps(body),
        status_code=code.status,
        media_type="application/json",
        headers={"x-amzn-errortype": code.code, "x-amzn-RequestId": request_id},
    )
