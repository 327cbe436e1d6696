"""Who may call the platform's own APIs: the rules of ``MODELYARD_AUTH=on``, the default.

- The AWS-protocol APIs (SageMaker, Step Functions, API Gateway, Lambda and Cognito's
  admin operations) take requests signed with AWS Signature Version 4 by an access key of
  the identity area whose user is in the ``admin`` group; the SageMaker runtime
  (``InvokeEndpoint``) takes any user's key. The first ``modelyard up`` writes an
  administrator's key pair to ``<home>/credentials``.
- The platform's own HTTP APIs take ``Authorization: Bearer <token>``: an access or ID
  token of a user pool (``InitiateAuth``, ``POST /oauth2/token``). Model management and
  ``/functions`` need an ``admin``; the jobs API takes any user, who sees only their own
  jobs (an ``admin`` sees all).
- The management token, when one is set, stands for an administrator everywhere: as the
  bearer token, and as the secret of any access key id in a signature.

With auth off (accepted on loopback only) only the management token, if set, is asked for.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from pydantic import SecretStr
from starlette.requests import Request

from modelyard.aws.sigv4 import SignedBy, SigV4Verifier
from modelyard.errors import AccessDenied, AuthenticationRequired
from modelyard.identity.bootstrap import ADMIN_GROUP
from modelyard.identity.service import IdentityService

__all__ = ["ADMIN_GROUP", "EVERYONE", "Access", "Caller", "GroupSignatures", "NotPermitted"]


class NotPermitted(AccessDenied):
    """The caller is not allowed to perform this operation."""


@dataclass(frozen=True, kw_only=True)
class Caller:
    """Who called one of the platform's APIs, as far as the APIs care."""

    #: The user's name; None for the management token, or when auth is off.
    username: str | None
    #: Whether the caller administers the platform (sees and may change everything).
    admin: bool


#: The caller when nobody is asked who they are, or the management token is shown.
EVERYONE: Final = Caller(username=None, admin=True)


class GroupSignatures(SigV4Verifier):
    """SigV4 verification that also requires the signing key's user to be in ``group``.

    A key the identity area does not know verified with the management token's secret,
    which stands for an administrator.
    """

    def __init__(
        self,
        secret_for: Callable[[str], str | None],
        groups_of_key: Callable[[str], frozenset[str] | None],
        group: str,
    ) -> None:
        super().__init__(secret_for)
        self._groups_of_key = groups_of_key
        self._group = group

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
        """Who signed the request; raises unless the signature is right and the signer
        is in the group."""
        signed = super().verify(
            method=method,
            host=host,
            raw_path=raw_path,
            query_string=query_string,
            headers=headers,
            body=body,
        )
        groups = self._groups_of_key(signed.access_key)
        if groups is not None and self._group not in groups:
            raise NotPermitted(
                f"The access key {signed.access_key} is not authorized to perform this "
                f"operation: it needs a user of the group {self._group!r}"
            )
        return signed


class Access:
    """The platform's guards, built once from the auth setting and the identity area."""

    def __init__(
        self,
        identity: IdentityService,
        *,
        enabled: bool,
        management_token: SecretStr | None = None,
    ) -> None:
        self._identity = identity
        self._enabled = enabled
        self._token = management_token.get_secret_value() if management_token else None

    @property
    def enabled(self) -> bool:
        """Whether callers must say who they are (``MODELYARD_AUTH=on``)."""
        return self._enabled

    def signatures(self, group: str | None = ADMIN_GROUP) -> SigV4Verifier | None:
        """The SigV4 check of an AWS-protocol API: the signer must be in ``group`` (any
        active key when None). None when nothing is checked (auth off and no token)."""
        if not self._enabled:
            token = self._token
            return None if token is None else SigV4Verifier(lambda _key: token)
        if group is None:
            return SigV4Verifier(self._secret_for)
        return GroupSignatures(self._secret_for, self._identity.groups_of_key, group)

    def guard(self, *, admin: bool) -> Callable[[Request], Awaitable[Caller]]:
        """A check of the bearer token of a request to one of the platform's HTTP APIs:
        answers the caller, raises 401 / 403 errors (an ``admin`` one when ``admin``)."""

        async def check(request: Request) -> Caller:
            return await self.caller(request.headers.get("authorization"), admin=admin)

        return check

    async def caller(self, authorization: str | None, *, admin: bool) -> Caller:
        """Who ``Authorization: Bearer <token>`` stands for (see :meth:`guard`)."""
        if not self._enabled and self._token is None:
            return EVERYONE
        scheme, _, value = (authorization or "").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise AuthenticationRequired(
                "this operation needs 'Authorization: Bearer <token>': a user pool's access "
                "or ID token (InitiateAuth, POST /oauth2/token)"
                + (", or the management token" if self._token else "")
            )
        if self._token is not None and hmac.compare_digest(value.encode(), self._token.encode()):
            return EVERYONE
        if not self._enabled:
            raise AccessDenied("the management token is not valid")
        principal = await self._identity.principal_of_token(value)
        caller = Caller(username=principal.username, admin=ADMIN_GROUP in principal.groups)
        if admin and not caller.admin:
            raise NotPermitted(
                f"user {principal.username!r} is not authorized to perform this operation: "
                f"it needs the group {ADMIN_GROUP!r}"
            )
        return caller

    def _secret_for(self, access_key: str) -> str | None:
        return self._identity.secret_for(access_key) or self._token
