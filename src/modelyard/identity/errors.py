"""The identity area's domain errors (the Cognito protocol maps them in ``cognito.py``).

::

    ModelyardError
    ├── InvalidRequest
    │   ├── InvalidParameter          a field is missing or wrong
    │   ├── UsernameExists            the pool has a user of that name
    │   ├── GroupExists               the pool has a group of that name
    │   └── UnsupportedTokenType      RevokeToken of something not a refresh token
    ├── AuthenticationRequired
    │   └── NotAuthorized             wrong password, disabled user, bad or revoked token
    └── IdentityNotFound
        ├── UserPoolNotFound, UserPoolClientNotFound, GroupNotFound
        └── UserNotFound

``passwords.InvalidPassword`` (an InvalidRequest) and ``tokens.InvalidToken`` (an
AuthenticationRequired) live beside the code that raises them.
"""

from __future__ import annotations

from modelyard.errors import AuthenticationRequired, InvalidRequest, ModelyardError

__all__ = [
    "GroupExists",
    "GroupNotFound",
    "IdentityNotFound",
    "InvalidParameter",
    "NotAuthorized",
    "UnsupportedTokenType",
    "UserNotFound",
    "UserPoolClientNotFound",
    "UserPoolNotFound",
    "UsernameExists",
]


class InvalidParameter(InvalidRequest):
    """A parameter is missing or not valid."""


class UsernameExists(InvalidRequest):
    """User account already exists."""


class GroupExists(InvalidRequest):
    """A group with the name already exists."""


class UnsupportedTokenType(InvalidRequest):
    """The token is not a refresh token."""


class NotAuthorized(AuthenticationRequired):
    """Incorrect username or password."""


class IdentityNotFound(ModelyardError):
    """The user pool, client, group or user does not exist."""


class UserPoolNotFound(IdentityNotFound):
    """User pool does not exist."""


class UserPoolClientNotFound(IdentityNotFound):
    """User pool client does not exist."""


class GroupNotFound(IdentityNotFound):
    """Group not found."""


class UserNotFound(IdentityNotFound):
    """User does not exist."""
