"""The authorization step's errors, each naming the gateway response it is answered with.

The runtime answers each with its ``response_type`` and tells the caller its
``public_message`` (``$context.error.message``)::

    AuthenticationRequired
     └── Unauthorized                    UNAUTHORIZED 401
    AccessDenied
     ├── AccessDeniedByPolicy            ACCESS_DENIED 403
     ├── MissingAuthenticationToken      MISSING_AUTHENTICATION_TOKEN 403
     └── IamDenied                       INVALID_SIGNATURE 403
          └── InvalidSecurityToken       ACCESS_DENIED 403 (a key nobody has)
    ModelyardError
     └── AuthorizerFailure               AUTHORIZER_FAILURE 500 (a verifier broke)
          └── AuthorizerConfigurationError   AUTHORIZER_CONFIGURATION_ERROR 500
"""

from __future__ import annotations

from typing import ClassVar, Final

from modelyard.errors import AccessDenied, AuthenticationRequired, ModelyardError
from modelyard.gateway.responses import ResponseType

__all__ = [
    "AccessDeniedByPolicy",
    "AuthorizerConfigurationError",
    "AuthorizerFailure",
    "IamDenied",
    "InvalidSecurityToken",
    "MissingAuthenticationToken",
    "Unauthorized",
]

_INVALID_SIGNATURE: Final = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_INVALID_TOKEN: Final = "The security token included in the request is invalid."
_EXPLICIT_DENY: Final = "User is not authorized to access this resource with an explicit deny"


class _GatewayAnswered:
    """What the runtime needs of each error to answer it: the gateway response type, and
    what the caller is told (``$context.error.message``)."""

    #: The gateway response (``ResponseType``) the runtime answers with.
    response_type: ClassVar[str]
    message: str

    @property
    def public_message(self) -> str | None:
        """What the caller is told; None for ``{"message": null}``."""
        return self.message


class Unauthorized(_GatewayAnswered, AuthenticationRequired):
    """Unauthorized"""

    response_type = ResponseType.UNAUTHORIZED


class AccessDeniedByPolicy(_GatewayAnswered, AccessDenied):
    """User is not authorized to access this resource"""

    response_type = ResponseType.ACCESS_DENIED


class MissingAuthenticationToken(_GatewayAnswered, AccessDenied):
    """Missing Authentication Token"""

    response_type = ResponseType.MISSING_AUTHENTICATION_TOKEN


class IamDenied(_GatewayAnswered, AccessDenied):
    """A signed request whose signature, or its scope, does not verify (IAM's words)."""

    response_type = ResponseType.INVALID_SIGNATURE

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _INVALID_SIGNATURE)


class InvalidSecurityToken(IamDenied):
    """The security token included in the request is invalid."""

    # API Gateway answers it as UnrecognizedClientException; of the gateway response
    # types, only ACCESS_DENIED is a 403 about who the caller is.
    response_type = ResponseType.ACCESS_DENIED

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _INVALID_TOKEN)


class AuthorizerFailure(_GatewayAnswered, ModelyardError):
    """The authorizer failed to authenticate the caller."""

    response_type = ResponseType.AUTHORIZER_FAILURE

    @property
    def public_message(self) -> str | None:
        """Nothing: API Gateway answers ``{"message": null}``; ``message`` is for logs."""
        return None


class AuthorizerConfigurationError(AuthorizerFailure):
    """The authorizer could not be used: its function failed, answered something that is
    not a policy, or the authorizer's definition is unusable."""

    response_type = ResponseType.AUTHORIZER_CONFIGURATION_ERROR
