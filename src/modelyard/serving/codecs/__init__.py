"""Payload codecs of the model server: SageMaker content types and the KServe V2 protocol.

They run inside model worker processes on the hot path, so they use orjson and vectorised
numpy, never pydantic. Every failure is a ``modelyard.errors`` domain error:
``UnsupportedContentType``, ``NotAcceptable``, ``PayloadMalformed`` (requests) and
``InferenceFailed`` (V2 outputs that do not match their declared shape or datatype).

SageMaker ``/invocations``::

    features = decode(body, "text/csv; charset=utf-8")
    body, content_type = encode(predictions, negotiate(accept, default="application/json"))

KServe V2 / Open Inference Protocol::

    request = decode_request(body, header_length)        # Inference-Header-Content-Length
    body, headers = encode_response(response, request)
"""

from __future__ import annotations

from modelyard.serving.codecs.content_types import (
    SUPPORTED_CONTENT_TYPES,
    decode,
    encode,
    negotiate,
)
from modelyard.serving.codecs.libsvm import LibSVMData
from modelyard.serving.codecs.records import (
    Record,
    RecordBytes,
    RecordTensor,
    RecordValue,
    array_to_records,
    records_to_array,
)
from modelyard.serving.codecs.v2 import (
    HEADER_LENGTH_HEADER,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from modelyard.serving.codecs.v2_tensors import DATATYPES, datatype_of, numpy_dtype

__all__ = [
    "DATATYPES",
    "HEADER_LENGTH_HEADER",
    "SUPPORTED_CONTENT_TYPES",
    "LibSVMData",
    "Record",
    "RecordBytes",
    "RecordTensor",
    "RecordValue",
    "array_to_records",
    "datatype_of",
    "decode",
    "decode_request",
    "decode_response",
    "encode",
    "encode_request",
    "encode_response",
    "negotiate",
    "numpy_dtype",
    "records_to_array",
]
