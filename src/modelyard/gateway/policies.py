"""A Lambda authorizer's answer: its IAM policy, checked, and evaluated against a method ARN.

The function answers ``principalId``, a ``policyDocument``, an optional ``context`` and
``usageIdentifierKey``; :func:`parse_answer` checks that shape once, when the answer
arrives, so the kept answer is evaluated anew against each request's method ARN.
Statements match as IAM's do: ``*`` is any run of characters (``/`` and ``:``
included), ``?`` one character, actions without regard to case. An explicit ``Deny``
matching the ARN wins; without a matching ``Allow`` access is denied too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from modelyard.gateway.authorization import Authorized
from modelyard.gateway.authorizer_errors import AccessDeniedByPolicy, AuthorizerConfigurationError
from modelyard.gateway.definitions import AuthorizationType

__all__ = ["AuthorizerAnswer", "PolicyStatement", "parse_answer"]

_INVOKE: Final = "execute-api:Invoke"
_EXPLICIT_DENY: Final = "User is not authorized to access this resource with an explicit deny"


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyStatement:
    """One statement of a policy: whether it allows, and what it applies to."""

    #: ``Effect``: Allow (True) or Deny.
    allow: bool
    #: Patterns, and whether they are NotAction / NotResource.
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool

    def applies_to(self, arn: str) -> bool:
        """Whether the statement speaks of invoking the method ``arn``."""
        action = any(_pattern(a, True).fullmatch(_INVOKE) for a in self.actions)
        resource = any(_pattern(r, False).fullmatch(arn) for r in self.resources)
        return action != self.not_action and resource != self.not_resource


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthorizerAnswer:
    """A Lambda authorizer's answer, checked: what is cached."""

    #: ``principalId``, as a string; None when the function named nobody.
    principal_id: str | None
    #: ``policyDocument.Statement``, in order.
    statements: tuple[PolicyStatement, ...]
    #: ``context``: what the backend sees as ``$context.authorizer.<key>``.
    context: Mapping[str, Any]
    #: ``usageIdentifierKey``: the API key, for an API whose key source is AUTHORIZER.
    usage_identifier_key: str | None

    def authorize(self, arn: str) -> Authorized:
        """Who the answer lets call the method ``arn``; AccessDeniedByPolicy if nobody."""
        applying = [statement for statement in self.statements if statement.applies_to(arn)]
        if any(not statement.allow for statement in applying):
            raise AccessDeniedByPolicy(_EXPLICIT_DENY)
        if not applying:
            raise AccessDeniedByPolicy()
        return Authorized(
            principal_id=self.principal_id,
            claims=self.context,
            usage_identifier_key=self.usage_identifier_key,
            kind=AuthorizationType.CUSTOM,
        )


@functools.lru_cache(maxsize=1024)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: '*' any run of characters ('/' and ':' included), '?' one character.
    translated = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(translated, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def parse_answer(result: Any) -> AuthorizerAnswer:
    """The function's result as an answer; AuthorizerConfigurationError if it is not one."""
    if not isinstance(result, Mapping):
        raise AuthorizerConfigurationError("the authorizer's answer is not a JSON object")
    principal = result.get("principalId")
    if principal is not None and not isinstance(principal, str | int | float):
        raise AuthorizerConfigurationError("principalId is not a string")
    document = result.get("policyDocument")
    if not isinstance(document, Mapping):
        raise AuthorizerConfigurationError("the answer has no policyDocument object")
    raw = document.get("Statement")
    statements = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(statements, list) or not statements:
        raise AuthorizerConfigurationError("the policy has no Statement")
    context = result.get("context") or {}
    if not isinstance(context, Mapping) or not all(
        isinstance(value, str | int | float | bool) or value is None for value in context.values()
    ):
        # API Gateway's words: a context value may not be a JSON object or array.
        raise AuthorizerConfigurationError("context must map keys to strings, numbers or booleans")
    key = result.get("usageIdentifierKey")
    if key is not None and not isinstance(key, str):
        raise AuthorizerConfigurationError("usageIdentifierKey is not a string")
    return AuthorizerAnswer(
        principal_id=None if principal is None else str(principal),
        statements=tuple(_statement(statement) for statement in statements),
        context=dict(context),
        usage_identifier_key=key,
    )


def _statement(raw: Any) -> PolicyStatement:
    if not isinstance(raw, Mapping):
        raise AuthorizerConfigurationError("a policy statement is not an object")
    effect = raw.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise AuthorizerConfigurationError(f"a policy statement's Effect is {effect!r}")
    actions, not_action = _either(raw, "Action", "NotAction")
    resources, not_resource = _either(raw, "Resource", "NotResource")
    return PolicyStatement(
        allow=effect.lower() == "allow",
        actions=actions,
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
    )


def _either(raw: Mapping[str, Any], name: str, negated: str) -> tuple[tuple[str, ...], bool]:
    is_negated = name not in raw and negated in raw
    value = raw.get(negated if is_negated else name)
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise AuthorizerConfigurationError(f"a policy statement has no usable {name}")
    return tuple(values), is_negated
