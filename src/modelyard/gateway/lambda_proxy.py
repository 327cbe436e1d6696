"""Lambda proxy integration: the event a function gets and the result it must return.

When a REST API method's integration is ``AWS_PROXY`` to a function, API Gateway sends the
whole request to the function as one event (payload format version 1.0) and turns the
function's result into the HTTP answer, without mapping templates on either side.

The event (:func:`proxy_event`, :func:`request_context`)::

    {"resource": "/pets/{id}", "path": "/pets/7", "httpMethod": "GET",
     "headers": {...}, "multiValueHeaders": {...},
     "queryStringParameters": {...} | null, "multiValueQueryStringParameters": {...} | null,
     "pathParameters": {...} | null, "stageVariables": {...} | null,
     "requestContext": {...}, "body": "..." | null, "isBase64Encoded": false}

The result (:func:`parse_proxy_response`)::

    {"statusCode": 200, "headers": {...}, "multiValueHeaders": {...},
     "body": "...", "isBase64Encoded": false}

A result API Gateway cannot use raises :class:`MalformedProxyResponse`, which API Gateway
answers with 502 ``{"message": "Internal server error"}``, logging "Execution failed due
to configuration error: Malformed Lambda proxy response".

These are pure functions: the caller calls the function and renders the answer.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from modelyard.errors import ModelyardError

__all__ = [
    "MalformedProxyResponse",
    "ProxyResponse",
    "parse_proxy_response",
    "proxy_event",
    "request_context",
]

# ``requestTime`` names months in English whatever the process's locale, so ``%b`` won't do.
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip
_STATUS_TEXT: Final = re.compile(r"^[0-9]{3}$")


# The class docstring is the default message, so the whole story lives here: the result
# is not what a proxy integration accepts (not a JSON object, no usable ``statusCode``, a
# ``body`` that is not a string, invalid base64 when ``isBase64Encoded`` is true, headers
# that are not strings). API Gateway answers the client 502 ``{"message": "Internal server
# error"}`` and logs "Execution failed due to configuration error: Malformed Lambda proxy
# response"; rendering that is the caller's job.
class MalformedProxyResponse(ModelyardError):
    """Malformed Lambda proxy response."""


@dataclass(frozen=True, kw_only=True)
class ProxyResponse:
    """A function's result as API Gateway understood it, ready to be sent to the client."""

    #: The HTTP status code (``statusCode``).
    status: int
    #: One value per header: the last of its merged values (for callers wanting one).
    headers: dict[str, str] = field(default_factory=dict)
    #: Every header with all its values: ``multiValueHeaders`` merged with ``headers``.
    multi_value_headers: dict[str, list[str]] = field(default_factory=dict)
    #: The body's bytes, base64-decoded when ``isBase64Encoded`` was true.
    body: bytes = b""


def proxy_event(
    *,
    resource: str,
    path: str,
    http_method: str,
    headers: Mapping[str, str],
    multi_value_headers: Mapping[str, Sequence[str]],
    query: Mapping[str, str],
    multi_value_query: Mapping[str, Sequence[str]],
    path_parameters: Mapping[str, str],
    stage_variables: Mapping[str, str],
    request_context: Mapping[str, Any],
    body: bytes,
    binary: bool,
) -> dict[str, Any]:
    """The event API Gateway sends a function behind a proxy integration.

    ``resource`` is the matched resource's path template (``/pets/{id}``), ``path`` the
    request's path. ``headers`` and ``query`` hold the last value of each name, their
    ``multi_value_`` twins every value. Collections with nothing in them are sent as
    ``null``, as API Gateway sends them, so functions can test them for ``None``.

    ``binary`` says the body's media type is one of the API's binary media types: the body
    is then sent base64-encoded with ``isBase64Encoded`` true. Otherwise it is sent as
    UTF-8 text (bytes that are not UTF-8 become U+FFFD). An empty body is ``null``, and
    never counts as base64-encoded.
    """
    return {
        "resource": resource,
        "path": path,
        "httpMethod": http_method,
        "headers": dict(headers) or None,
        "multiValueHeaders": _lists(multi_value_headers) or None,
        "queryStringParameters": dict(query) or None,
        "multiValueQueryStringParameters": _lists(multi_value_query) or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": dict(stage_variables) or None,
        "requestContext": dict(request_context),
        "body": _event_body(body, binary=binary),
        "isBase64Encoded": binary and bool(body),
    }


def request_context(
    *,
    account_id: str,
    api_id: str,
    stage: str,
    resource_id: str,
    resource_path: str,
    http_method: str,
    path: str,
    request_id: str,
    request_time_epoch_ms: int,
    source_ip: str,
    user_agent: str | None,
    authorizer: Mapping[str, Any] | None,
    identity_extra: Mapping[str, Any] | None = None,
    protocol: str = "HTTP/1.1",
    domain_name: str,
) -> dict[str, Any]:
    """The event's ``requestContext``: who called which method of which stage, and when.

    ``path`` is the request's path as the client sent it, stage included
    (``/prod/pets/7``); ``resource_path`` the resource's template (``/pets/{id}``).

    ``authorizer`` is what the method's authorizer established, passed through as given:
    ``{"claims": {...}}`` (and ``"scopes"``) for a Cognito user pool authorizer, or the
    Lambda authorizer's ``context`` plus its ``principalId``. Without an authorizer the
    member is left out.

    ``identity`` holds ``sourceIp`` and ``userAgent`` and, ``null`` unless
    ``identity_extra`` sets them, the caller's API key (``apiKey``, ``apiKeyId``), IAM
    (``accessKey``, ``accountId``, ``caller``, ``user``, ``userArn``, ``principalOrgId``),
    Cognito identity pool (``cognitoIdentityId``, ``cognitoIdentityPoolId``,
    ``cognitoAuthenticationType``, ``cognitoAuthenticationProvider``) and mutual TLS
    (``clientCert``) details.

    ``domainPrefix`` is the first label of ``domain_name``. No separate extended request ID
    is kept, so ``extendedRequestId`` repeats ``request_id``.
    """
    identity: dict[str, Any] = {
        "accessKey": None,
        "accountId": None,
        "apiKey": None,
        "apiKeyId": None,
        "caller": None,
        "clientCert": None,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "sourceIp": source_ip,
        "user": None,
        "userAgent": user_agent,
        "userArn": None,
    }
    identity.update(identity_extra or {})
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "extendedRequestId": request_id,
        "httpMethod": http_method,
        "identity": identity,
        "path": path,
        "protocol": protocol,
        "requestId": request_id,
        "requestTime": _request_time(request_time_epoch_ms),
        "requestTimeEpoch": request_time_epoch_ms,
        "resourceId": resource_id,
        "resourcePath": resource_path,
        "stage": stage,
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return context


def parse_proxy_response(payload: Any) -> ProxyResponse:
    """Read a function's result as API Gateway reads a proxy integration's answer.

    ``statusCode`` is an integer or a string of one (``"404"``), between 100 and 599.
    ``headers`` maps names to one value, ``multiValueHeaders`` names to lists; both may be
    missing or ``null``. They are merged into one list per name (names compared without
    regard to case): the ``multiValueHeaders`` values first, then the ``headers`` value
    unless that list holds it already. Numbers and booleans given as header values are
    sent as their JSON text; ``null`` values are dropped. ``body`` is a string, or missing
    or ``null`` for none; with ``isBase64Encoded`` true (or ``"true"``) it is base64 and is
    decoded, else it is sent as UTF-8. Other members are ignored.

    Raises :class:`MalformedProxyResponse` for anything else; API Gateway answers that with
    502 ``{"message": "Internal server error"}`` and logs "Execution failed due to
    configuration error: Malformed Lambda proxy response". The caller renders it.
    """
    if not isinstance(payload, Mapping):
        raise _malformed(f"the result is a {_json_type(payload)}, not an object")
    status = _status(payload.get("statusCode"))
    merged = _merge_headers(
        single=_single_headers(payload.get("headers")),
        multi=_multi_headers(payload.get("multiValueHeaders")),
    )
    return ProxyResponse(
        status=status,
        headers={name: values[-1] for name, values in merged.items()},
        multi_value_headers=merged,
        body=_response_body(payload.get("body"), payload.get("isBase64Encoded")),
    )


def _lists(values: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    return {name: list(each) for name, each in values.items()}


def _event_body(body: bytes, *, binary: bool) -> str | None:
    if not body:
        return None
    if binary:
        return base64.b64encode(body).decode("ascii")
    return body.decode("utf-8", errors="replace")


def _request_time(epoch_ms: int) -> str:
    at = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return (
        f"{at.day:02d}/{_MONTHS[at.month - 1]}/{at.year:04d}:"
        f"{at.hour:02d}:{at.minute:02d}:{at.second:02d} +0000"
    )


def _malformed(reason: str) -> MalformedProxyResponse:
    return MalformedProxyResponse(f"Malformed Lambda proxy response: {reason}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "array"
    return type(value).__name__


def _status(value: Any) -> int:
    if isinstance(value, bool):  # bool is an int to Python, not to JSON
        raise _malformed("statusCode is a boolean")
    if isinstance(value, str) and _STATUS_TEXT.match(value):
        status = int(value)
    elif isinstance(value, int):
        status = value
    elif isinstance(value, float) and value.is_integer():
        status = int(value)
    elif value is None:
        raise _malformed("statusCode is missing")
    else:
        raise _malformed(f"statusCode {value!r} is not an integer")
    if not 100 <= status <= 599:
        raise _malformed(f"statusCode {status} is not an HTTP status code")
    return status


def _header_value(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise _malformed(f"header {name!r} has a {_json_type(value)} value")


def _single_headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _malformed(f"headers is a {_json_type(value)}, not an object")
    headers: dict[str, str] = {}
    for name, raw in value.items():
        text = _header_value(str(name), raw)
        if text is not None:
            headers[str(name)] = text
    return headers


def _multi_headers(value: Any) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _malformed(f"multiValueHeaders is a {_json_type(value)}, not an object")
    headers: dict[str, list[str]] = {}
    for name, raw in value.items():
        if raw is None:
            continue
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise _malformed(f"multiValueHeaders {name!r} is a {_json_type(raw)}, not an array")
        texts = [text for each in raw if (text := _header_value(str(name), each)) is not None]
        if texts:
            headers[str(name)] = texts
    return headers


def _merge_headers(*, single: dict[str, str], multi: dict[str, list[str]]) -> dict[str, list[str]]:
    merged = {name: list(values) for name, values in multi.items()}
    # Header names are case-insensitive: ``content-type`` in one and ``Content-Type`` in
    # the other are one header, spelled as multiValueHeaders spells it.
    spelling = {name.lower(): name for name in merged}
    for name, value in single.items():
        known = spelling.get(name.lower())
        if known is None:
            merged[name] = [value]
            spelling[name.lower()] = name
        elif value not in merged[known]:
            merged[known].append(value)
    return merged


def _is_base64(value: Any) -> bool:
    if value is None or value is False or value == "false":
        return False
    if value is True or value == "true":
        return True
    raise _malformed(f"isBase64Encoded is a {_json_type(value)}, not a boolean")


def _response_body(value: Any, encoded: Any) -> bytes:
    is_base64 = _is_base64(encoded)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise _malformed(f"body is a {_json_type(value)}, not a string")
    if not is_base64:
        # Lone surrogates cannot be UTF-8; JSON lets a function send them anyway.
        return value.encode("utf-8", errors="replace")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _malformed("body is not valid base64 though isBase64Encoded is true") from exc
