"""AWS Signature Version 4, checked: who signed an AWS-protocol request, and whether truly.

boto3 signs every request with the caller's secret access key (``Authorization:
AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/sagemaker/aws4_request,
SignedHeaders=host;x-amz-date;..., Signature=<hex>``). :class:`SigV4Verifier` rebuilds
the signature from the request as received, with the secret it knows for that access
key, using botocore's own canonical request and signing code (so both sides compute the
same thing by construction), and compares in constant time. The time of signing must be
within five minutes of the server's, as AWS requires.

Where the secrets come from is the caller's business (``secret_for``): today the
management token stands for every access key's secret; the identity area will look
real access keys up.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from modelyard.errors import AccessDenied, AuthenticationRequired

__all__ = [
    "IncompleteSignature",
    "InvalidSignature",
    "MissingSignature",
    "SigV4Verifier",
    "SignedBy",
    "UnknownAccessKey",
]

_ALGORITHM = "AWS4-HMAC-SHA256"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


class MissingSignature(AuthenticationRequired):
    """The request is not signed (no AWS Signature Version 4 ``Authorization`` header)."""


class IncompleteSignature(AuthenticationRequired):
    """The request's signature is malformed or incomplete."""


class UnknownAccessKey(AccessDenied):
    """The security token included in the request is invalid."""


class InvalidSignature(AccessDenied):
    """The request signature we calculated does not match the signature you provided."""


@dataclass(frozen=True, kw_only=True)
class SignedBy:
    """Who signed a request that verified."""

    #: The access key id of the credential.
    access_key: str
    #: The region and service the signature was scoped to.
    region: str
    service: str


class SigV4Verifier:
    """Verifies Signature Version 4 on requests against the secrets it is given."""

    def __init__(
        self,
        secret_for: Callable[[str], str | None],
        *,
        max_skew_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``secret_for`` gives an access key's secret, or None for a key nobody has."""
        self._secret_for = secret_for
        self._max_skew_s = max_skew_s
        self._clock = clock

    def verify(
        self,
        *,
        method: str,
        host: str,
        raw_path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> SignedBy:
        """Who signed the request; raises unless the signature is present, fresh and right.

        ``headers`` are the request's, names in any case; ``raw_path`` and
        ``query_string`` as sent (percent-encoded).
        """
        lowered = {name.lower(): value for name, value in headers.items()}
        authorization = lowered.get("authorization", "")
        if not authorization.startswith(_ALGORITHM):
            raise MissingSignature(
                "Missing Authentication Token: the request must be signed with AWS "
                "Signature Version 4"
            )
        match = _AUTHORIZATION.match(authorization)
        if match is None:
            raise IncompleteSignature(
                "Authorization header requires Credential, SignedHeaders and Signature"
            )
        parts = match["credential"].split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise IncompleteSignature(f"malformed credential scope {match['credential']!r}")
        access_key, day, region, service, _ = parts
        amz_date = lowered.get("x-amz-date", "")
        self._check_time(amz_date, day)
        signed = match["signed"].split(";")
        if "host" not in signed:
            raise IncompleteSignature("the signed headers must include host")
        secret = self._secret_for(access_key)
        if secret is None:
            raise UnknownAccessKey("The security token included in the request is invalid.")
        request = AWSRequest(
            method=method.upper(),
            url=f"http://{host}{raw_path}" + (f"?{query_string}" if query_string else ""),
            data=body,
            headers={name: lowered[name] for name in signed if name in lowered},
        )
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(access_key, secret), service, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, match["signature"]):
            raise InvalidSignature(
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method."
            )
        return SignedBy(access_key=access_key, region=region, service=service)

    def _check_time(self, amz_date: str, day: str) -> None:
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise IncompleteSignature("X-Amz-Date is missing or not yyyymmddThhmmssZ") from None
        if not amz_date.startswith(day):
            raise IncompleteSignature("the credential's date is not the day of X-Amz-Date")
        skew = abs(self._clock() - signed_at.timestamp())
        if skew > self._max_skew_s:
            raise InvalidSignature(
                f"Signature expired: {amz_date} is more than {self._max_skew_s / 60:g} "
                "minutes from the server's time"
            )
