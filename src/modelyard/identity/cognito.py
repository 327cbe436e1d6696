"""Cognito user pools over AWS JSON 1.1: ``X-Amz-Target:
AWSCognitoIdentityProviderService.<Operation>``, as the boto3 ``cognito-idp`` client sends.

Each operation parses its input shape, calls the :class:`IdentityService`, renders its
output; nothing else. The sign-in operations AWS leaves unsigned (InitiateAuth,
RespondToAuthChallenge, GetUser, GlobalSignOut, RevokeToken) are unsigned here too
(:data:`UNSIGNED`); the others are administrative and signed with SigV4 when auth is on.
:data:`ERRORS` is the one place where the area's domain errors become Cognito's codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from modelyard.aws.errors import ErrorCode, ErrorTable, InvalidPaginationToken
from modelyard.aws.errors import InvalidParameter as AwsInvalidParameter
from modelyard.aws.json_protocol import AwsJsonService
from modelyard.aws.pagination import decode_token, encode_token
from modelyard.aws.shapes import parse
from modelyard.errors import AuthenticationRequired, DatabaseError, InvalidRequest
from modelyard.identity import cognito_shapes as shapes
from modelyard.identity.directory import TokenValidity
from modelyard.identity.errors import (
    GroupExists,
    GroupNotFound,
    IdentityNotFound,
    InvalidParameter,
    NotAuthorized,
    UnsupportedTokenType,
    UsernameExists,
    UserNotFound,
)
from modelyard.identity.passwords import InvalidPassword
from modelyard.identity.service import AuthResult, IdentityService
from modelyard.storage.identity import Group, User, UserPool, UserPoolClient

__all__ = ["ERRORS", "TARGET_PREFIX", "UNSIGNED", "service"]

#: The service model's ``targetPrefix``.
TARGET_PREFIX: Final = "AWSCognitoIdentityProviderService"
#: The operations AWS calls without a signature (``authtype: none``).
UNSIGNED: Final = frozenset(
    {"InitiateAuth", "RespondToAuthChallenge", "GetUser", "GlobalSignOut", "RevokeToken"}
)


def _code(name: str) -> ErrorCode:
    return ErrorCode(code=name, status=400)


#: The area's domain errors as Cognito answers them (400, named as the API names them).
ERRORS = ErrorTable(
    {
        InvalidRequest: _code("InvalidParameterException"),
        AwsInvalidParameter: _code("InvalidParameterException"),
        InvalidParameter: _code("InvalidParameterException"),
        InvalidPaginationToken: _code("InvalidParameterException"),
        InvalidPassword: _code("InvalidPasswordException"),
        UsernameExists: _code("UsernameExistsException"),
        GroupExists: _code("GroupExistsException"),
        UnsupportedTokenType: _code("UnsupportedTokenTypeException"),
        AuthenticationRequired: _code("NotAuthorizedException"),
        NotAuthorized: _code("NotAuthorizedException"),
        IdentityNotFound: _code("ResourceNotFoundException"),
        GroupNotFound: _code("ResourceNotFoundException"),
        UserNotFound: _code("UserNotFoundException"),
        DatabaseError: ErrorCode(code="InternalErrorException", status=500),
    }
)


def service(identity: IdentityService) -> AwsJsonService:
    """The Cognito user pool operations of the identity area, bound to ``identity``."""
    arn_prefix = f"arn:aws:cognito-idp:{identity.region}"

    def pool_document(pool: UserPool) -> dict[str, Any]:
        return {
            "Id": pool.id,
            "Name": pool.name,
            "Arn": f"{arn_prefix}:{identity.account_id}:userpool/{pool.id}",
            "Policies": {"PasswordPolicy": dict(pool.password_policy)},
            "CreationDate": _epoch(pool.created_at),
            "LastModifiedDate": _epoch(pool.last_modified_at),
            "MfaConfiguration": "OFF",
            "UsernameConfiguration": {"CaseSensitive": True},
        }

    async def create_user_pool(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.CreateUserPoolInput, body)
        policies = request.policies or {}
        pool = await identity.create_user_pool(
            request.pool_name, policies.get("PasswordPolicy") or None
        )
        return {"UserPool": pool_document(pool)}

    async def describe_user_pool(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.UserPoolIdInput, body)
        return {"UserPool": pool_document(await identity.describe_user_pool(request.user_pool_id))}

    async def list_user_pools(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListUserPoolsInput, body)
        after = _after(request.next_token, "ListUserPools")
        pools, more = await identity.list_user_pools(after=after, limit=request.max_results)
        answer: dict[str, Any] = {
            "UserPools": [
                {
                    "Id": pool.id,
                    "Name": pool.name,
                    "CreationDate": _epoch(pool.created_at),
                    "LastModifiedDate": _epoch(pool.last_modified_at),
                }
                for pool in pools
            ]
        }
        if more is not None:
            answer["NextToken"] = encode_token([more], "ListUserPools")
        return answer

    async def create_user_pool_client(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.CreateUserPoolClientInput, body)
        client = await identity.create_user_pool_client(
            request.user_pool_id,
            request.client_name,
            generate_secret=request.generate_secret,
            explicit_auth_flows=request.explicit_auth_flows,
            validity=TokenValidity.of(
                {
                    "AccessTokenValidity": request.access_token_validity,
                    "IdTokenValidity": request.id_token_validity,
                    "RefreshTokenValidity": request.refresh_token_validity,
                },
                request.token_validity_units,
            ),
        )
        return {"UserPoolClient": _client_document(client)}

    async def describe_user_pool_client(body: dict[str, Any]) -> dict[str, Any]:
        pool_id, client_id = body.get("UserPoolId"), body.get("ClientId")
        if not isinstance(pool_id, str) or not isinstance(client_id, str):
            raise InvalidParameter("UserPoolId and ClientId are required")
        client = await identity.describe_user_pool_client(pool_id, client_id)
        return {"UserPoolClient": _client_document(client)}

    async def admin_create_user(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.CreateUserInput, body)
        if request.message_action not in (None, "SUPPRESS", "RESEND"):
            raise InvalidParameter("MessageAction must be RESEND or SUPPRESS")
        user, _ = await identity.admin_create_user(
            request.user_pool_id,
            request.username,
            attributes={a.name: a.value or "" for a in request.user_attributes},
            temporary_password=request.temporary_password,
        )
        return {"User": _user_document(user, "Attributes")}

    async def admin_set_user_password(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.SetUserPasswordInput, body)
        await identity.admin_set_user_password(
            request.user_pool_id, request.username, request.password, permanent=request.permanent
        )
        return {}

    async def admin_get_user(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.AdminUserInput, body)
        user = await identity.admin_get_user(request.user_pool_id, request.username)
        return _user_document(user, "UserAttributes")

    async def list_users(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListUsersInput, body)
        if request.filter:
            raise InvalidParameter("ListUsers filters are not supported")
        scope = f"ListUsers:{request.user_pool_id}"
        after = _after(request.pagination_token, scope)
        users, more = await identity.list_users(
            request.user_pool_id, after=after, limit=request.limit or 60
        )
        answer: dict[str, Any] = {"Users": [_user_document(u, "Attributes") for u in users]}
        if more is not None:
            answer["PaginationToken"] = encode_token([more], scope)
        return answer

    async def admin_delete_user(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.AdminUserInput, body)
        await identity.admin_delete_user(request.user_pool_id, request.username)
        return {}

    async def create_group(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.CreateGroupInput, body)
        group = await identity.create_group(
            request.user_pool_id,
            request.group_name,
            description=request.description,
            precedence=request.precedence,
            role_arn=request.role_arn,
        )
        return {"Group": _group_document(group)}

    async def admin_add_user_to_group(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.GroupMemberInput, body)
        await identity.admin_add_user_to_group(
            request.user_pool_id, request.username, request.group_name
        )
        return {}

    async def admin_remove_user_from_group(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.GroupMemberInput, body)
        await identity.admin_remove_user_from_group(
            request.user_pool_id, request.username, request.group_name
        )
        return {}

    async def admin_list_groups_for_user(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.AdminUserInput, body)
        await identity.admin_get_user(request.user_pool_id, request.username)
        groups = await identity.groups_of(request.user_pool_id, request.username)
        return {"Groups": [_group_document(group) for group in groups]}

    async def initiate_auth(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.AuthInput, body)
        result = await identity.initiate_auth(
            request.client_id, request.auth_flow, request.auth_parameters
        )
        return _auth_document(result)

    async def admin_initiate_auth(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.AdminAuthInput, body)
        result = await identity.initiate_auth(
            request.client_id,
            request.auth_flow,
            request.auth_parameters,
            admin_pool_id=request.user_pool_id,
        )
        return _auth_document(result)

    async def respond_to_auth_challenge(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ChallengeInput, body)
        result = await identity.respond_to_auth_challenge(
            request.client_id, request.challenge_name, request.session, request.challenge_responses
        )
        return _auth_document(result)

    async def admin_respond_to_auth_challenge(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.AdminChallengeInput, body)
        result = await identity.respond_to_auth_challenge(
            request.client_id,
            request.challenge_name,
            request.session,
            request.challenge_responses,
            admin_pool_id=request.user_pool_id,
        )
        return _auth_document(result)

    async def get_user(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.TokenInput, body)
        user = await identity.get_user(request.access_token)
        return {"Username": user.username, "UserAttributes": _attributes(user)}

    async def global_sign_out(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.TokenInput, body)
        await identity.global_sign_out(request.access_token)
        return {}

    async def revoke_token(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.RevokeTokenInput, body)
        await identity.revoke_token(request.token, request.client_id, request.client_secret)
        return {}

    return AwsJsonService(
        target_prefix=TARGET_PREFIX,
        operations={
            "CreateUserPool": create_user_pool,
            "DescribeUserPool": describe_user_pool,
            "ListUserPools": list_user_pools,
            "CreateUserPoolClient": create_user_pool_client,
            "DescribeUserPoolClient": describe_user_pool_client,
            "AdminCreateUser": admin_create_user,
            "AdminSetUserPassword": admin_set_user_password,
            "AdminGetUser": admin_get_user,
            "ListUsers": list_users,
            "AdminDeleteUser": admin_delete_user,
            "CreateGroup": create_group,
            "AdminAddUserToGroup": admin_add_user_to_group,
            "AdminRemoveUserFromGroup": admin_remove_user_from_group,
            "AdminListGroupsForUser": admin_list_groups_for_user,
            "InitiateAuth": initiate_auth,
            "AdminInitiateAuth": admin_initiate_auth,
            "RespondToAuthChallenge": respond_to_auth_challenge,
            "AdminRespondToAuthChallenge": admin_respond_to_auth_challenge,
            "GetUser": get_user,
            "GlobalSignOut": global_sign_out,
            "RevokeToken": revoke_token,
        },
        errors=ERRORS,
        json_version="1.1",
        unsigned=UNSIGNED,
    )


def _epoch(moment: datetime) -> float:
    return round(moment.timestamp(), 3)


def _after(token: str | None, scope: str) -> str | None:
    if token is None:
        return None
    position = decode_token(token, scope)
    if len(position) != 1 or not isinstance(position[0], str):
        raise InvalidPaginationToken("the pagination token is not valid")
    return position[0]


def _attributes(user: User) -> list[dict[str, str]]:
    pairs: Iterable[tuple[str, str]] = [("sub", user.sub), *sorted(user.attributes.items())]
    return [{"Name": name, "Value": value} for name, value in pairs]


def _user_document(user: User, attributes_member: str) -> dict[str, Any]:
    return {
        "Username": user.username,
        attributes_member: _attributes(user),
        "UserCreateDate": _epoch(user.created_at),
        "UserLastModifiedDate": _epoch(user.last_modified_at),
        "Enabled": user.enabled,
        "UserStatus": user.status.value,
    }


def _group_document(group: Group) -> dict[str, Any]:
    document: dict[str, Any] = {
        "GroupName": group.name,
        "UserPoolId": group.pool_id,
        "CreationDate": _epoch(group.created_at),
        "LastModifiedDate": _epoch(group.last_modified_at),
    }
    if group.description is not None:
        document["Description"] = group.description
    if group.precedence is not None:
        document["Precedence"] = group.precedence
    if group.role_arn is not None:
        document["RoleArn"] = group.role_arn
    return document


def _client_document(client: UserPoolClient) -> dict[str, Any]:
    document: dict[str, Any] = {
        "UserPoolId": client.pool_id,
        "ClientName": client.name,
        "ClientId": client.client_id,
        "CreationDate": _epoch(client.created_at),
        "LastModifiedDate": _epoch(client.last_modified_at),
        "ExplicitAuthFlows": list(client.explicit_auth_flows),
        # Reported in seconds, with the units saying so.
        "AccessTokenValidity": client.access_token_validity_s,
        "IdTokenValidity": client.id_token_validity_s,
        "RefreshTokenValidity": client.refresh_token_validity_s,
        "TokenValidityUnits": {
            "AccessToken": "seconds",
            "IdToken": "seconds",
            "RefreshToken": "seconds",
        },
    }
    if client.secret is not None:
        document["ClientSecret"] = client.secret
    return document


def _auth_document(result: AuthResult) -> dict[str, Any]:
    if result.challenge is not None:
        return {
            "ChallengeName": result.challenge,
            "Session": result.session,
            "ChallengeParameters": dict(result.parameters or {}),
        }
    tokens: dict[str, Any] = {
        "AccessToken": result.access_token,
        "ExpiresIn": result.expires_in,
        "TokenType": "Bearer",
        "IdToken": result.id_token,
    }
    if result.refresh_token is not None:
        tokens["RefreshToken"] = result.refresh_token
    return {"ChallengeParameters": {}, "AuthenticationResult": tokens}
