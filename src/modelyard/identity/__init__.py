"""Identity: user pools, users, groups, tokens and access keys; the Cognito protocol.

The other areas use :class:`IdentityService` to tell who a token or an access key stands
for (:class:`Principal`); clients reach it through the Cognito API (``cognito.py``), the
JWKS and OAuth 2.0 token routes (``routes.py``), and ``<home>/credentials``.
"""

from __future__ import annotations

from modelyard.identity.errors import (
    GroupExists,
    GroupNotFound,
    IdentityNotFound,
    InvalidParameter,
    NotAuthorized,
    UnsupportedTokenType,
    UsernameExists,
    UserNotFound,
    UserPoolClientNotFound,
    UserPoolNotFound,
)
from modelyard.identity.service import AuthResult, IdentityService, Principal

__all__ = [
    "AuthResult",
    "GroupExists",
    "GroupNotFound",
    "IdentityNotFound",
    "IdentityService",
    "InvalidParameter",
    "NotAuthorized",
    "Principal",
    "UnsupportedTokenType",
    "UserNotFound",
    "UserPoolClientNotFound",
    "UserPoolNotFound",
    "UsernameExists",
]
