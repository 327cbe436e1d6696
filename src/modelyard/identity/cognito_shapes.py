"""Request shapes of the Cognito user pool operations modelyard answers (their members
and constraints as the service model ``cognito-idp`` 2016-04-18 has them)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from modelyard.aws.shapes import Shape, matching

__all__ = [
    "AdminAuthInput",
    "AdminChallengeInput",
    "AdminUserInput",
    "AttributeType",
    "AuthInput",
    "ChallengeInput",
    "CreateGroupInput",
    "CreateUserInput",
    "CreateUserPoolClientInput",
    "CreateUserPoolInput",
    "GroupMemberInput",
    "ListUserPoolsInput",
    "ListUsersInput",
    "RevokeTokenInput",
    "SetUserPasswordInput",
    "TokenInput",
    "UserPoolIdInput",
]

UserPoolId = Annotated[str, matching(r"[\w-]+_[0-9a-zA-Z]+", min_length=1, max_length=55)]
ClientId = Annotated[str, matching(r"[\w+]+", min_length=1, max_length=128)]
Username = Annotated[str, matching(r"[\p{L}\p{M}\p{S}\p{N}\p{P}]+", min_length=1, max_length=128)]
GroupName = Annotated[str, matching(r"[\p{L}\p{M}\p{S}\p{N}\p{P}]+", min_length=1, max_length=128)]
Password = Annotated[str, matching(r"[\S]+", min_length=1, max_length=256)]


class AttributeType(Shape):
    """A user attribute."""

    name: Annotated[str, matching(r"[\p{L}\p{M}\p{S}\p{N}\p{P}]+", min_length=1, max_length=32)]
    value: str | None = None


class CreateUserPoolInput(Shape):
    pool_name: Annotated[str, matching(r"[\w\s+=,.@-]+", min_length=1, max_length=128)]
    policies: dict[str, Any] | None = None


class UserPoolIdInput(Shape):
    user_pool_id: UserPoolId


class ListUserPoolsInput(Shape):
    max_results: Annotated[int, Field(ge=1, le=60)]
    next_token: str | None = None


class CreateUserPoolClientInput(Shape):
    user_pool_id: UserPoolId
    client_name: Annotated[str, matching(r"[\w\s+=,.@-]+", min_length=1, max_length=128)]
    generate_secret: bool = False
    refresh_token_validity: int | None = None
    access_token_validity: int | None = None
    id_token_validity: int | None = None
    token_validity_units: dict[str, str] | None = None
    explicit_auth_flows: list[str] | None = None


class CreateUserInput(Shape):
    user_pool_id: UserPoolId
    username: Username
    user_attributes: list[AttributeType] = []
    temporary_password: Password | None = None
    message_action: str | None = None


class AdminUserInput(Shape):
    user_pool_id: UserPoolId
    username: Username


class SetUserPasswordInput(Shape):
    user_pool_id: UserPoolId
    username: Username
    password: Password
    permanent: bool = False


class ListUsersInput(Shape):
    user_pool_id: UserPoolId
    limit: Annotated[int, Field(ge=0, le=60)] = 60
    pagination_token: str | None = None
    filter: str | None = None


class CreateGroupInput(Shape):
    group_name: GroupName
    user_pool_id: UserPoolId
    description: Annotated[str, Field(max_length=2048)] | None = None
    role_arn: str | None = None
    precedence: Annotated[int, Field(ge=0)] | None = None


class GroupMemberInput(Shape):
    user_pool_id: UserPoolId
    username: Username
    group_name: GroupName


class AuthInput(Shape):
    auth_flow: str
    client_id: ClientId
    auth_parameters: dict[str, str] = {}


class AdminAuthInput(AuthInput):
    user_pool_id: UserPoolId


class ChallengeInput(Shape):
    client_id: ClientId
    challenge_name: str
    session: str | None = None
    challenge_responses: dict[str, str] = {}


class AdminChallengeInput(ChallengeInput):
    user_pool_id: UserPoolId


class TokenInput(Shape):
    access_token: Annotated[str, matching(r"[A-Za-z0-9-_=.]+")]


class RevokeTokenInput(Shape):
    token: str
    client_id: ClientId
    client_secret: str | None = None
