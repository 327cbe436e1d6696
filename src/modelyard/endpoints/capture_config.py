"""SageMaker's ``DataCaptureConfig``, parsed and checked: what an endpoint config captures.

``CaptureConfig.from_api`` reads the dict CreateEndpointConfig receives (checking every
member against the API reference's limits, ``InvalidRequest`` naming the member), and
``to_api`` gives it back for DescribeEndpointConfig. The writer of the records is
``endpoints/capture.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from modelyard.errors import InvalidRequest

__all__ = ["CaptureConfig", "CaptureEncoding", "CaptureMode"]


#: Pattern of ``CsvContentTypes`` / ``JsonContentTypes`` entries (SageMaker API reference,
#: ``CaptureContentTypeHeader``): a bare media type, no parameters.
_CONTENT_TYPE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*/[a-zA-Z0-9](-*[a-zA-Z0-9.])*")

#: Pattern of ``KmsKeyId`` (SageMaker API reference, ``DataCaptureConfig``).
_KMS_KEY_ID = re.compile(r"[a-zA-Z0-9:/_-]*")

#: Hosts of S3's HTTPS addresses: virtual-hosted (``bucket.s3.region.amazonaws.com``) or
#: path-style (``s3.region.amazonaws.com/bucket``), old dash forms and China regions too.
_S3_HOST = re.compile(r"(?:(?P<bucket>.+)\.)?s3[.-](?:[a-z0-9-]+\.)*amazonaws\.com(?:\.cn)?")


class CaptureMode(StrEnum):
    """What ``CaptureOptions`` asks to capture (its ``CaptureMode`` values)."""

    #: The request body the endpoint received.
    INPUT = "Input"
    #: The response body the model answered.
    OUTPUT = "Output"
    #: Both (accepted by the API beside a pair of ``Input`` and ``Output`` options).
    INPUT_AND_OUTPUT = "InputAndOutput"


class CaptureEncoding(StrEnum):
    """How a captured body is written in the record's ``data`` (its ``encoding``)."""

    #: The body as text, its content type being one of ``CsvContentTypes``.
    CSV = "CSV"
    #: The body as text (the JSON document itself, as a string), its content type being
    #: one of ``JsonContentTypes``.
    JSON = "JSON"
    #: The body in base64: any other content type (SageMaker's default).
    BASE64 = "BASE64"


@dataclass(frozen=True, kw_only=True)
class CaptureConfig:
    """An endpoint config's ``DataCaptureConfig``, checked; build it with :meth:`from_api`."""

    #: Whether invocations are captured at all (``EnableCapture``; true when absent).
    enabled: bool = True
    #: Share of invocations captured, 0 to 100 (``InitialSamplingPercentage``).
    sampling_percentage: int
    #: Where records go, as the caller wrote it (``DestinationS3Uri``).
    destination_s3_uri: str
    #: The object-store key ``destination_s3_uri`` names: ``BUCKET/PREFIX``.
    destination_key: str
    #: ``CaptureOptions``' modes, in the caller's order.
    capture_modes: tuple[CaptureMode, ...]
    #: Content types captured as CSV text (``CaptureContentTypeHeader.CsvContentTypes``).
    csv_content_types: tuple[str, ...] = ()
    #: Content types captured as JSON text (``CaptureContentTypeHeader.JsonContentTypes``).
    json_content_types: tuple[str, ...] = ()
    #: Whether ``CaptureContentTypeHeader`` was given (to describe the config back as given).
    has_content_type_header: bool = False
    #: ``KmsKeyId``: recorded for describing the config back; modelyard encrypts nothing.
    kms_key_id: str | None = None
    #: Whether request bodies are captured (derived from ``capture_modes``).
    captures_input: bool = field(init=False, compare=False)
    #: Whether response bodies are captured (derived from ``capture_modes``).
    captures_output: bool = field(init=False, compare=False)
    # Lower-cased copies of the content-type lists, for matching (not part of the value).
    _csv: frozenset[str] = field(init=False, repr=False, compare=False)
    _json: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived once here, as record() reads them on the request path. A frozen
        # dataclass sets them through object.__setattr__.
        modes = set(self.capture_modes)
        both = CaptureMode.INPUT_AND_OUTPUT
        object.__setattr__(self, "captures_input", bool(modes & {CaptureMode.INPUT, both}))
        object.__setattr__(self, "captures_output", bool(modes & {CaptureMode.OUTPUT, both}))
        object.__setattr__(self, "_csv", frozenset(t.lower() for t in self.csv_content_types))
        object.__setattr__(self, "_json", frozenset(t.lower() for t in self.json_content_types))

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CaptureConfig:
        """Check a ``DataCaptureConfig`` as ``CreateEndpointConfig`` receives it.

        Raises :class:`~modelyard.errors.InvalidRequest` naming the member at fault, with
        the limits of SageMaker's API reference. Members this version does not know are
        ignored, as newer clients may send them.
        """
        if not isinstance(data, Mapping):
            raise InvalidRequest("DataCaptureConfig must be an object")
        enabled = data.get("EnableCapture", True)
        if not isinstance(enabled, bool):
            raise InvalidRequest("DataCaptureConfig.EnableCapture must be a boolean")
        percentage = data.get("InitialSamplingPercentage")
        if isinstance(percentage, bool) or not isinstance(percentage, int):
            raise InvalidRequest(
                "DataCaptureConfig.InitialSamplingPercentage is required: an integer from 0 to 100"
            )
        if not 0 <= percentage <= 100:
            raise InvalidRequest(
                f"DataCaptureConfig.InitialSamplingPercentage must be from 0 to 100, not {percentage}"
            )
        uri = data.get("DestinationS3Uri")
        if not isinstance(uri, str) or not uri:
            raise InvalidRequest("DataCaptureConfig.DestinationS3Uri is required: an S3 URI")
        if len(uri) > 512:
            raise InvalidRequest("DataCaptureConfig.DestinationS3Uri is longer than 512 characters")
        kms_key_id = data.get("KmsKeyId")
        if kms_key_id is not None and (
            not isinstance(kms_key_id, str)
            or len(kms_key_id) > 2048
            or not _KMS_KEY_ID.fullmatch(kms_key_id)
        ):
            raise InvalidRequest("DataCaptureConfig.KmsKeyId is not a KMS key id, ARN or alias")
        header = data.get("CaptureContentTypeHeader")
        if header is not None and not isinstance(header, Mapping):
            raise InvalidRequest("DataCaptureConfig.CaptureContentTypeHeader must be an object")
        header = header or {}
        return cls(
            enabled=enabled,
            sampling_percentage=percentage,
            destination_s3_uri=uri,
            destination_key=_destination_key(uri),
            capture_modes=_capture_modes(data.get("CaptureOptions")),
            csv_content_types=_content_types(header, "CsvContentTypes"),
            json_content_types=_content_types(header, "JsonContentTypes"),
            has_content_type_header="CaptureContentTypeHeader" in data,
            kms_key_id=kms_key_id,
        )

    def to_api(self) -> dict[str, Any]:
        """The ``DataCaptureConfig`` as ``DescribeEndpointConfig`` answers it."""
        described: dict[str, Any] = {
            "EnableCapture": self.enabled,
            "InitialSamplingPercentage": self.sampling_percentage,
            "DestinationS3Uri": self.destination_s3_uri,
        }
        if self.kms_key_id is not None:
            described["KmsKeyId"] = self.kms_key_id
        described["CaptureOptions"] = [{"CaptureMode": str(m)} for m in self.capture_modes]
        if self.has_content_type_header:
            header: dict[str, list[str]] = {}
            if self.csv_content_types:
                header["CsvContentTypes"] = list(self.csv_content_types)
            if self.json_content_types:
                header["JsonContentTypes"] = list(self.json_content_types)
            described["CaptureContentTypeHeader"] = header
        return described

    def encoding_for(self, content_type: str) -> CaptureEncoding:
        """How a body of ``content_type`` is captured.

        The media type is compared without its parameters and case: with ``text/csv``
        listed, a response of ``text/csv; charset=utf-8`` is captured as CSV, as in the
        records of SageMaker's own documentation. CSV is looked up first.
        """
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type in self._csv:
            return CaptureEncoding.CSV
        if media_type in self._json:
            return CaptureEncoding.JSON
        return CaptureEncoding.BASE64

    def hour_prefix(self, endpoint: str, variant: str, moment: datetime) -> str:
        """The store key of the folder holding the records of ``moment``'s hour (UTC)."""
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
        return f"{self.destination_key}/{endpoint}/{variant}/{utc:%Y/%m/%d/%H}"


# -- parsing DataCaptureConfig -----------------------------------------------------------


def _destination_key(uri: str) -> str:
    """The store key ``DestinationS3Uri`` names: ``s3://BUCKET/PREFIX`` -> ``BUCKET/PREFIX``.

    The API also allows ``https://`` S3 addresses; virtual-hosted and path-style ones
    are understood.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        path = parts.netloc + parts.path
    elif scheme == "https" and (host := _S3_HOST.fullmatch(parts.hostname or "")):
        bucket = host.group("bucket")
        path = bucket + parts.path if bucket else parts.path
    else:
        raise InvalidRequest(
            f"DataCaptureConfig.DestinationS3Uri must be s3://bucket/prefix, not {uri!r}"
        )
    if parts.query or parts.fragment:
        raise InvalidRequest("DataCaptureConfig.DestinationS3Uri has a query or a fragment")
    segments = path.strip("/").split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidRequest(
            f"DataCaptureConfig.DestinationS3Uri has no bucket, or an empty, '.' or '..' part: {uri!r}"
        )
    if any("\\" in segment or "\x00" in segment for segment in segments):
        raise InvalidRequest("DataCaptureConfig.DestinationS3Uri contains a backslash or NUL")
    return "/".join(segments)


def _capture_modes(options: Any) -> tuple[CaptureMode, ...]:
    member = "DataCaptureConfig.CaptureOptions"
    if not isinstance(options, list) or not 1 <= len(options) <= 32:
        raise InvalidRequest(f"{member} is required: a list of 1 to 32 {{'CaptureMode': ...}}")
    modes: list[CaptureMode] = []
    allowed = ", ".join(m.value for m in CaptureMode)
    for index, option in enumerate(options):
        value = option.get("CaptureMode") if isinstance(option, Mapping) else None
        try:
            modes.append(CaptureMode(str(value)))
        except ValueError:
            raise InvalidRequest(
                f"{member}[{index}].CaptureMode must be one of {allowed}, not {value!r}"
            ) from None
    return tuple(modes)


def _content_types(header: Mapping[str, Any], name: str) -> tuple[str, ...]:
    member = f"DataCaptureConfig.CaptureContentTypeHeader.{name}"
    types = header.get(name)
    if types is None:
        return ()
    if not isinstance(types, list) or not 1 <= len(types) <= 10:
        raise InvalidRequest(f"{member} must be a list of 1 to 10 content types")
    for index, content_type in enumerate(types):
        if (
            not isinstance(content_type, str)
            or len(content_type) > 256
            or not _CONTENT_TYPE.fullmatch(content_type)
        ):
            raise InvalidRequest(
                f"{member}[{index}] must be a media type like 'text/csv', not {content_type!r}"
            )
    return tuple(types)
