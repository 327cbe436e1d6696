"""Gateway responses: what API Gateway answers when it fails a request itself.

Every failure the gateway produces before or instead of the integration (no route, no
API key, throttled, validation, authorizer, integration timeout...) has a response type.
Each type has a default status code and message and answers
``{"message":$context.error.messageString}`` until the API customises it
(PutGatewayResponse, ``x-amazon-apigateway-gateway-responses``): a status code, headers
mapped from the request (``gatewayresponse.header.X``), and body templates.

Types that are not customised fall back to their family, ``DEFAULT_4XX`` or
``DEFAULT_5XX``: a customised family response lends them its headers and templates, and
its status code if it has one (API Gateway: "changing the status code of this fallback
gateway response changes the status codes of all other 4XX responses"); otherwise each
type keeps its own default status code. A customised type replaces the whole response.

Templates are rendered by the caller's VTL engine; :func:`render_error` only chooses the
template and prepares ``$context.error``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from modelyard.gateway.definitions import GatewayResponseDefinition
from modelyard.gateway.errors import BadRequest

__all__ = [
    "DEFAULT_TEMPLATE",
    "GatewayResponse",
    "GatewayResponses",
    "ResponseType",
    "gateway_response",
    "render_error",
]

#: The body template of every response not customised: ``messageString`` is the message
#: already quoted as a JSON string, so the body is JSON.
DEFAULT_TEMPLATE: Final = '{"message":$context.error.messageString}'

_DEFAULT_CONTENT_TYPE: Final = "application/json"
_HEADER_PREFIX: Final = "gatewayresponse.header."
_STATUS_CODE: Final = re.compile(r"^[1-5]\d\d$")


class ResponseType(StrEnum):
    """The kinds of failure API Gateway answers itself, each customisable."""

    #: An authorizer or resource policy denied the caller.
    ACCESS_DENIED = "ACCESS_DENIED"
    #: The API's configuration is unusable (no integration response matches, bad base64...).
    API_CONFIGURATION_ERROR = "API_CONFIGURATION_ERROR"
    #: The authorizer could not be called, or answered something unusable.
    AUTHORIZER_CONFIGURATION_ERROR = "AUTHORIZER_CONFIGURATION_ERROR"
    #: The authorizer failed to authenticate the caller.
    AUTHORIZER_FAILURE = "AUTHORIZER_FAILURE"
    #: The request's parameters do not pass the request validator.
    BAD_REQUEST_PARAMETERS = "BAD_REQUEST_PARAMETERS"
    #: The request's body does not pass the request validator.
    BAD_REQUEST_BODY = "BAD_REQUEST_BODY"
    #: The fallback of every 4xx type not customised itself.
    DEFAULT_4XX = "DEFAULT_4XX"
    #: The fallback of every 5xx type not customised itself.
    DEFAULT_5XX = "DEFAULT_5XX"
    #: The caller's AWS security token has expired.
    EXPIRED_TOKEN = "EXPIRED_TOKEN"
    #: The integration could not be reached.
    INTEGRATION_FAILURE = "INTEGRATION_FAILURE"
    #: The integration did not answer within its timeout.
    INTEGRATION_TIMEOUT = "INTEGRATION_TIMEOUT"
    #: The API key is missing, unknown, disabled, or not in a usage plan of the stage.
    INVALID_API_KEY = "INVALID_API_KEY"
    #: The SigV4 signature does not match.
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    #: No credentials where the method needs them; also any unknown resource or method.
    MISSING_AUTHENTICATION_TOKEN = "MISSING_AUTHENTICATION_TOKEN"
    #: The usage plan's quota of the caller's API key is used up.
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    #: The request is larger than API Gateway accepts.
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    #: The resource was not found (after authorization, as for a custom domain's path).
    RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
    #: A throttling limit (stage, method, usage plan, account) was exceeded.
    THROTTLED = "THROTTLED"
    #: The authorizer denied the caller's token.
    UNAUTHORIZED = "UNAUTHORIZED"
    #: The payload's media type is not supported (strict binary handling).
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    #: A web ACL blocked the request.
    WAF_FILTERED = "WAF_FILTERED"

    @property
    def default_status_code(self) -> int | None:
        """The status code answered when not customised; ``None`` for the two families."""
        return _BUILT_IN[self].status_code

    @property
    def default_message(self) -> str | None:
        """API Gateway's message for this failure when the caller has none more specific;
        ``None`` where API Gateway answers ``{"message":null}``."""
        return _BUILT_IN[self].message

    @property
    def error_type(self) -> str | None:
        """The ``x-amzn-ErrorType`` header API Gateway sends with it, where it sends one."""
        return _BUILT_IN[self].error_type

    @property
    def family(self) -> ResponseType:
        """The fallback type: ``DEFAULT_4XX`` or ``DEFAULT_5XX`` (each its own family)."""
        if self in (ResponseType.DEFAULT_4XX, ResponseType.DEFAULT_5XX):
            return self
        status = _BUILT_IN[self].status_code
        return (
            ResponseType.DEFAULT_4XX
            if status is not None and status < 500
            else ResponseType.DEFAULT_5XX
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class _BuiltIn:
    status_code: int | None
    message: str | None
    error_type: str | None = None


_T = ResponseType
_BUILT_IN: Final[Mapping[ResponseType, _BuiltIn]] = {
    _T.ACCESS_DENIED: _BuiltIn(
        status_code=403,
        message="User is not authorized to access this resource",
        error_type="AccessDeniedException",
    ),
    _T.API_CONFIGURATION_ERROR: _BuiltIn(
        status_code=500, message="Internal server error", error_type="InternalServerErrorException"
    ),
    _T.AUTHORIZER_CONFIGURATION_ERROR: _BuiltIn(
        status_code=500, message=None, error_type="AuthorizerConfigurationException"
    ),
    _T.AUTHORIZER_FAILURE: _BuiltIn(status_code=500, message=None),
    _T.BAD_REQUEST_PARAMETERS: _BuiltIn(
        status_code=400, message="Bad Request", error_type="BadRequestException"
    ),
    _T.BAD_REQUEST_BODY: _BuiltIn(
        status_code=400, message="Invalid request body", error_type="BadRequestException"
    ),
    _T.DEFAULT_4XX: _BuiltIn(status_code=None, message="Bad Request"),
    _T.DEFAULT_5XX: _BuiltIn(status_code=None, message="Internal server error"),
    _T.EXPIRED_TOKEN: _BuiltIn(
        status_code=403, message="The security token included in the request is expired"
    ),
    _T.INTEGRATION_FAILURE: _BuiltIn(
        status_code=504, message="Network error communicating with endpoint"
    ),
    _T.INTEGRATION_TIMEOUT: _BuiltIn(status_code=504, message="Endpoint request timed out"),
    _T.INVALID_API_KEY: _BuiltIn(
        status_code=403, message="Forbidden", error_type="ForbiddenException"
    ),
    _T.INVALID_SIGNATURE: _BuiltIn(
        status_code=403,
        message=(
            "The request signature we calculated does not match the signature you provided."
            " Check your AWS Secret Access Key and signing method."
            " Consult the service documentation for details."
        ),
        error_type="InvalidSignatureException",
    ),
    _T.MISSING_AUTHENTICATION_TOKEN: _BuiltIn(
        status_code=403,
        message="Missing Authentication Token",
        error_type="MissingAuthenticationTokenException",
    ),
    _T.QUOTA_EXCEEDED: _BuiltIn(
        status_code=429, message="Limit Exceeded", error_type="LimitExceededException"
    ),
    _T.REQUEST_TOO_LARGE: _BuiltIn(status_code=413, message="Request Too Long"),
    _T.RESOURCE_NOT_FOUND: _BuiltIn(status_code=404, message="Not Found"),
    _T.THROTTLED: _BuiltIn(
        status_code=429, message="Too Many Requests", error_type="TooManyRequestsException"
    ),
    _T.UNAUTHORIZED: _BuiltIn(
        status_code=401, message="Unauthorized", error_type="UnauthorizedException"
    ),
    _T.UNSUPPORTED_MEDIA_TYPE: _BuiltIn(status_code=415, message="Unsupported Media Type"),
    _T.WAF_FILTERED: _BuiltIn(
        status_code=403, message="Forbidden", error_type="ForbiddenException"
    ),
}


def _default_templates() -> dict[str, str]:
    return {_DEFAULT_CONTENT_TYPE: DEFAULT_TEMPLATE}


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewayResponse:
    """One response type's answer: status, mapped headers, body templates."""

    #: The failure it answers.
    type: ResponseType
    #: The status code; ``None`` only for ``DEFAULT_4XX``/``DEFAULT_5XX`` left unset.
    status_code: int | None
    #: ``gatewayresponse.header.Name`` → ``'literal'``, ``method.request.header.X``,
    #: ``method.request.querystring.x``, ``method.request.path.x``, ``stageVariables.x``
    #: or ``context.x`` (dotted: ``context.authorizer.principalId``).
    response_parameters: Mapping[str, str] = field(default_factory=dict)
    #: Content type → VTL template of the body.
    response_templates: Mapping[str, str] = field(default_factory=_default_templates)
    #: Whether API Gateway made it up, the type not being customised itself
    #: (GetGatewayResponse's ``defaultResponse``).
    default_response: bool = False

    def document(self) -> dict[str, Any]:
        """The GatewayResponse document of the ``apigateway`` API (camelCase)."""
        document: dict[str, Any] = {
            "responseType": str(self.type),
            "responseParameters": dict(self.response_parameters),
            "responseTemplates": dict(self.response_templates),
            "defaultResponse": self.default_response,
        }
        if self.status_code is not None:
            document["statusCode"] = str(self.status_code)
        return document


def gateway_response(
    response_type: str,
    *,
    status_code: str | int | None = None,
    response_parameters: Mapping[str, str] | None = None,
    response_templates: Mapping[str, str] | None = None,
) -> GatewayResponse:
    """A customised response from what PutGatewayResponse or the OpenAPI extension give.

    Raises :class:`~modelyard.gateway.errors.BadRequest` for an unknown type or a status
    code outside ``[1-5]\\d\\d``. Without templates, the default template answers.
    """
    try:
        kind = ResponseType(response_type)
    except ValueError:
        raise BadRequest(f"Invalid gateway response type: {response_type}") from None
    status: int | None = None
    if status_code is not None:
        text = str(status_code)
        if not _STATUS_CODE.match(text):
            raise BadRequest(f"Invalid status code: {text}")
        status = int(text)
    return GatewayResponse(
        type=kind,
        status_code=status,
        response_parameters=dict(response_parameters or {}),
        response_templates=dict(response_templates) if response_templates else _default_templates(),
    )


class GatewayResponses:
    """The gateway responses of one API: its customisations, resolved with fallbacks.

    Example::

        responses = GatewayResponses.from_extension(openapi["x-amazon-apigateway-gateway-responses"])
        answer = responses.resolve(ResponseType.THROTTLED)
    """

    def __init__(self, customised: Iterable[GatewayResponse] = ()) -> None:
        self._customised = {response.type: response for response in customised}

    @classmethod
    def from_extension(cls, extension: Mapping[str, Mapping[str, Any]]) -> GatewayResponses:
        """From an ``x-amazon-apigateway-gateway-responses`` map (type → response)."""
        return cls(
            gateway_response(
                name,
                status_code=spec.get("statusCode"),
                response_parameters=spec.get("responseParameters"),
                response_templates=spec.get("responseTemplates"),
            )
            for name, spec in extension.items()
        )

    @classmethod
    def from_definitions(cls, definitions: Iterable[GatewayResponseDefinition]) -> GatewayResponses:
        """From an API's stored PutGatewayResponse records (``RestApi.gateway_responses``
        values); records marked ``default_response`` are not customisations."""
        return cls(
            gateway_response(
                definition.response_type,
                status_code=definition.status_code,
                response_parameters=definition.response_parameters,
                response_templates=definition.response_templates,
            )
            for definition in definitions
            if not definition.default_response
        )

    def resolve(self, response_type: ResponseType | str) -> GatewayResponse:
        """The response API Gateway gives for ``response_type``: its customisation, else
        its family's customisation (with the type's own status code unless the family
        sets one), else the built-in default."""
        kind = ResponseType(response_type)
        own = self._customised.get(kind)
        if own is not None:
            status = own.status_code if own.status_code is not None else kind.default_status_code
            return GatewayResponse(
                type=kind,
                status_code=status,
                response_parameters=dict(own.response_parameters),
                response_templates=dict(own.response_templates) or _default_templates(),
            )
        family = self._customised.get(kind.family)
        if family is not None:
            status = (
                family.status_code if family.status_code is not None else kind.default_status_code
            )
            return GatewayResponse(
                type=kind,
                status_code=status,
                response_parameters=dict(family.response_parameters),
                response_templates=dict(family.response_templates) or _default_templates(),
                default_response=True,
            )
        return GatewayResponse(
            type=kind, status_code=kind.default_status_code, default_response=True
        )

    def resolve_all(self) -> list[GatewayResponse]:
        """Every type's response, in type order (GetGatewayResponses)."""
        return [self.resolve(kind) for kind in ResponseType]


def render_error(
    response: GatewayResponse,
    *,
    message: str | None,
    request_headers: Mapping[str, str],
    query: Mapping[str, str],
    path: Mapping[str, str],
    stage_variables: Mapping[str, str],
    context: Mapping[str, Any],
    render_template: Callable[[str, Mapping[str, Any]], str],
) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of ``response`` for one failed request.

    ``context`` is the request's ``$context``; ``render_template(template, context)``
    renders a VTL template with ``$context`` set to it, ``context.error`` holding
    ``message`` (raw), ``messageString`` (quoted as JSON: ``null`` for a ``None``
    message) and ``responseType``, beside any other ``error`` members given
    (``validationErrorString``). The template is the one of the request's ``Accept``
    type, else ``application/json``'s, else the first.
    """
    kind = response.type
    status = response.status_code or kind.default_status_code
    if status is None:
        status = 400 if kind.family is ResponseType.DEFAULT_4XX else 500
    given_error = context.get("error")
    error = dict(given_error) if isinstance(given_error, Mapping) else {}
    error.update(
        message=message,
        messageString=json.dumps(message, ensure_ascii=False),
        responseType=str(kind),
    )
    render_context = {**context, "error": error}
    lowered = {name.lower(): value for name, value in request_headers.items()}

    headers: dict[str, str] = {}
    if kind.error_type is not None:
        headers["x-amzn-ErrorType"] = kind.error_type
    body = b""
    chosen = _choose_template(response.response_templates, lowered.get("accept"))
    if chosen is not None:
        content_type, template = chosen
        headers["Content-Type"] = content_type
        body = render_template(template, render_context).encode()
    for key, source in response.response_parameters.items():
        if not key.startswith(_HEADER_PREFIX):
            continue
        value = _parameter_value(
            source,
            headers=lowered,
            query=query,
            path=path,
            stage_variables=stage_variables,
            context=render_context,
        )
        if value is None:
            continue  # a source the request lacks maps to no header
        name = key[len(_HEADER_PREFIX) :]
        for existing in [h for h in headers if h.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value
    return status, headers, body


def _choose_template(templates: Mapping[str, str], accept: str | None) -> tuple[str, str] | None:
    if not templates:
        return None
    by_type = {content_type.lower(): content_type for content_type in templates}
    for item in (accept or "").split(","):
        wanted = item.split(";", 1)[0].strip().lower()
        if wanted in by_type:
            return by_type[wanted], templates[by_type[wanted]]
    if _DEFAULT_CONTENT_TYPE in by_type:
        return by_type[_DEFAULT_CONTENT_TYPE], templates[by_type[_DEFAULT_CONTENT_TYPE]]
    first = next(iter(templates))
    return first, templates[first]


def _parameter_value(
    source: str,
    *,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    path: Mapping[str, str],
    stage_variables: Mapping[str, str],
    context: Mapping[str, Any],
) -> str | None:
    if len(source) >= 2 and source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    prefix, _, name = source.partition(".")
    if prefix == "stageVariables":
        return stage_variables.get(name)
    if prefix == "context":
        return _context_value(context, name.split("."))
    parts = source.split(".", 3)
    if len(parts) != 4:
        return None
    if parts[:2] == ["method", "request"]:
        location, name = parts[2], parts[3]
        if location in ("header", "multivalueheader"):
            return headers.get(name.lower())
        if location in ("querystring", "multivaluequerystring"):
            return query.get(name)
        if location == "path":
            return path.get(name)
    elif parts[:3] == ["method", "input", "params"]:
        # The older form, searched as $input.params(name) does: path, query, header.
        name = parts[3]
        for found in (path.get(name), query.get(name), headers.get(name.lower())):
            if found is not None:
                return found
    return None


def _context_value(context: Mapping[str, Any], names: list[str]) -> str | None:
    value: Any = context
    for name in names:
        if not isinstance(value, Mapping) or name not in value:
            return None
        value = value[name]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None
