"""What an authorizer is given of a request: its identity sources, its event, its function.

A user pool or ``TOKEN`` authorizer reads one header (its identity source); a
``REQUEST`` authorizer reads every identity source it names
(``method.request.header.X``, ``method.request.querystring.y``, ``stageVariables.z``,
``context.w``) and gets the whole request as an event shaped as the Lambda proxy
integration's. The function an ``authorizerUri`` names, and the user pools an
authorizer's ARNs name, may use stage variables.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Final

from modelyard.gateway.authorization import RequestFacts
from modelyard.gateway.authorizer_errors import AuthorizerConfigurationError
from modelyard.gateway.definitions import Authorizer

__all__ = [
    "function_of",
    "header_source",
    "request_event",
    "source_value",
    "validation_pattern",
    "with_stage_variables",
]

_STAGE_VARIABLE: Final = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_.:-]+)\}")


def header_source(source: str, facts: RequestFacts) -> str | None:
    """The header a TOKEN or user pool authorizer's identity source names, in the request."""
    prefix = "method.request.header."
    if not source.startswith(prefix):
        raise AuthorizerConfigurationError(f"identity source {source!r} is not a header")
    return facts.header(source.removeprefix(prefix))


def source_value(source: str, facts: RequestFacts) -> str:
    """A REQUEST authorizer's identity source's value; "" when the request lacks it."""
    value: Any
    if name := _after(source, "method.request.header.", "method.request.multivalueheader."):
        value = facts.header(name)
    elif name := _after(
        source, "method.request.querystring.", "method.request.multivaluequerystring."
    ):
        value = facts.query.get(name)
    elif name := _after(source, "method.request.path."):
        value = facts.path_parameters.get(name)
    elif name := _after(source, "stageVariables."):
        value = facts.stage_variables.get(name)
    elif name := _after(source, "context."):
        value = facts.context
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    else:
        raise AuthorizerConfigurationError(f"identity source {source!r} is not supported")
    return "" if value is None else str(value)


def _after(source: str, *prefixes: str) -> str:
    """What follows the first of ``prefixes`` ``source`` starts with; "" if none."""
    for prefix in prefixes:
        if source.startswith(prefix):
            return source.removeprefix(prefix)
    return ""


def request_event(facts: RequestFacts) -> dict[str, Any]:
    """The REQUEST authorizer's event, shaped as the Lambda proxy integration's."""
    headers = dict(facts.headers)
    multi_headers = facts.multi_value_headers or {k: [v] for k, v in headers.items()}
    multi_query = facts.multi_value_query or {k: [v] for k, v in facts.query.items()}
    return {
        "type": "REQUEST",
        "methodArn": facts.method_arn,
        "resource": facts.resource_path,
        "path": facts.path,
        "httpMethod": facts.http_method,
        "headers": headers,
        "multiValueHeaders": {k: list(v) for k, v in multi_headers.items()},
        # API Gateway sends null, not {}, for what the request does not have.
        "queryStringParameters": dict(facts.query) or None,
        "multiValueQueryStringParameters": {k: list(v) for k, v in multi_query.items()} or None,
        "pathParameters": dict(facts.path_parameters) or None,
        "stageVariables": dict(facts.stage_variables) or None,
        "requestContext": {
            "resourcePath": facts.resource_path,
            "httpMethod": facts.http_method,
            "path": facts.path,
            "stage": facts.stage,
            "apiId": facts.api_id,
            **facts.context,
        },
    }


def function_of(authorizer: Authorizer, facts: RequestFacts) -> str:
    """The function an ``authorizerUri`` names: the ARN inside
    ``arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations``,
    or the URI itself when it is a bare name or ARN; stage variables substituted."""
    uri = with_stage_variables(authorizer.authorizer_uri or "", facts)
    if not uri:
        raise AuthorizerConfigurationError(f"authorizer {authorizer.id} has no function")
    _, found, rest = uri.partition(":path/")
    if found:
        _, functions, target = rest.partition("/functions/")
        if not functions or not target.endswith("/invocations"):
            raise AuthorizerConfigurationError(f"authorizer URI {uri!r} names no function")
        return target.removesuffix("/invocations")
    return uri


def with_stage_variables(text: str, facts: RequestFacts) -> str:
    """``text`` with each ``${stageVariables.name}`` replaced by the variable ("" if unset)."""
    return _STAGE_VARIABLE.sub(lambda m: facts.stage_variables.get(m[1], ""), text)


@functools.lru_cache(maxsize=256)
def validation_pattern(expression: str) -> re.Pattern[str]:
    """A TOKEN authorizer's ``identityValidationExpression``, compiled (kept by text)."""
    try:
        return re.compile(expression)
    except re.error as exc:
        raise AuthorizerConfigurationError(
            f"identityValidationExpression {expression!r} is not a regular expression"
        ) from exc
