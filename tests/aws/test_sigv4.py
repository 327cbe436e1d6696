"""Signature Version 4 checked as AWS checks it: botocore signs, the verifier agrees or not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from modelyard.aws.sigv4 import (
    IncompleteSignature,
    InvalidSignature,
    MissingSignature,
    SigV4Verifier,
    UnknownAccessKey,
)

SECRETS = {"AKIDEXAMPLE": "s3cr3t"}


def _signed(body: bytes, *, secret: str = "s3cr3t", path: str = "/", query: str = "") -> Any:
    url = f"http://127.0.0.1:8080{path}" + (f"?{query}" if query else "")
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.X"},
    )
    SigV4Auth(Credentials("AKIDEXAMPLE", secret), "sagemaker", "us-east-1").add_auth(request)
    return request


def _verify(request: Any, verifier: SigV4Verifier | None = None, **changes: Any) -> Any:
    parts = request.url.split("?", 1)
    path = parts[0].removeprefix("http://127.0.0.1:8080")
    arguments = {
        "method": request.method,
        "host": "127.0.0.1:8080",
        "raw_path": path,
        "query_string": parts[1] if len(parts) > 1 else "",
        "headers": dict(request.headers.items()),
        "body": request.body,
    }
    arguments.update(changes)
    return (verifier or SigV4Verifier(SECRETS.get)).verify(**arguments)


@given(st.binary(max_size=500), st.sampled_from(["/", "/endpoints/a-b/invocations"]))
def test_what_botocore_signs_verifies(body: bytes, path: str) -> None:
    signed = _verify(_signed(body, path=path))
    assert (signed.access_key, signed.region, signed.service) == (
        "AKIDEXAMPLE",
        "us-east-1",
        "sagemaker",
    )


def test_a_changed_body_header_or_secret_does_not() -> None:
    request = _signed(b'{"a": 1}')
    with pytest.raises(InvalidSignature):
        _verify(request, body=b'{"a": 2}')
    headers = dict(request.headers.items()) | {"X-Amz-Target": "SageMaker.DeleteEndpoint"}
    with pytest.raises(InvalidSignature):
        _verify(request, headers=headers)
    with pytest.raises(InvalidSignature):
        _verify(_signed(b"{}", secret="guess"))


def test_unsigned_unknown_and_malformed_requests_are_refused() -> None:
    request = _signed(b"{}")
    headers = dict(request.headers.items())
    with pytest.raises(MissingSignature):
        _verify(request, headers={k: v for k, v in headers.items() if k != "Authorization"})
    with pytest.raises(UnknownAccessKey):
        _verify(request, verifier=SigV4Verifier(lambda key: None))
    with pytest.raises(IncompleteSignature):
        _verify(request, headers=headers | {"Authorization": "AWS4-HMAC-SHA256 Credential=x"})


def test_a_signature_older_than_five_minutes_has_expired() -> None:
    request = _signed(b"{}")
    later = dt.datetime.now(dt.UTC).timestamp() + 301
    with pytest.raises(InvalidSignature, match="expired"):
        _verify(request, verifier=SigV4Verifier(SECRETS.get, clock=lambda: later))
