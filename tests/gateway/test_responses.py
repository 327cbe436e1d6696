"""Gateway responses: defaults of every type, fallbacks to DEFAULT_4XX/5XX, rendering."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import botocore.session  # type: ignore[import-untyped]  # no type information shipped
import pytest

from modelyard.gateway.definitions import GatewayResponseDefinition
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.responses import (
    DEFAULT_TEMPLATE,
    GatewayResponse,
    GatewayResponses,
    ResponseType,
    gateway_response,
    render_error,
)

R = ResponseType
D4 = R.DEFAULT_4XX
D5 = R.DEFAULT_5XX

# type: (default status code, default message, family), as API Gateway's table has them.
DEFAULTS: dict[ResponseType, tuple[int | None, str | None, ResponseType]] = {
    R.ACCESS_DENIED: (403, "User is not authorized to access this resource", D4),
    R.API_CONFIGURATION_ERROR: (500, "Internal server error", D5),
    R.AUTHORIZER_CONFIGURATION_ERROR: (500, None, D5),
    R.AUTHORIZER_FAILURE: (500, None, D5),
    R.BAD_REQUEST_PARAMETERS: (400, "Bad Request", D4),
    R.BAD_REQUEST_BODY: (400, "Invalid request body", D4),
    R.DEFAULT_4XX: (None, "Bad Request", D4),
    R.DEFAULT_5XX: (None, "Internal server error", D5),
    R.EXPIRED_TOKEN: (403, "The security token included in the request is expired", D4),
    R.INTEGRATION_FAILURE: (504, "Network error communicating with endpoint", D5),
    R.INTEGRATION_TIMEOUT: (504, "Endpoint request timed out", D5),
    R.INVALID_API_KEY: (403, "Forbidden", D4),
    R.INVALID_SIGNATURE: (
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details.",
        D4,
    ),
    R.MISSING_AUTHENTICATION_TOKEN: (403, "Missing Authentication Token", D4),
    R.QUOTA_EXCEEDED: (429, "Limit Exceeded", D4),
    R.REQUEST_TOO_LARGE: (413, "Request Too Long", D4),
    R.RESOURCE_NOT_FOUND: (404, "Not Found", D4),
    R.THROTTLED: (429, "Too Many Requests", D4),
    R.UNAUTHORIZED: (401, "Unauthorized", D4),
    R.UNSUPPORTED_MEDIA_TYPE: (415, "Unsupported Media Type", D4),
    R.WAF_FILTERED: (403, "Forbidden", D4),
}
FOUR_XX = [kind for kind, (_, _, family) in DEFAULTS.items() if family is D4 and kind is not D4]
FIVE_XX = [kind for kind, (_, _, family) in DEFAULTS.items() if family is D5 and kind is not D5]


def render(template: str, context: Mapping[str, Any]) -> str:
    """A stand-in for the VTL engine: replaces ``$context.a.b`` references only."""

    def lookup(match: re.Match[str]) -> str:
        value: Any = context
        for name in match[1].split("."):
            if not isinstance(value, Mapping) or name not in value:
                return match[0]
            value = value[name]
        return "null" if value is None else str(value)

    return re.sub(r"\$context\.([A-Za-z0-9_.]+)", lookup, template)


def answer(
    response: GatewayResponse,
    *,
    message: str | None = "Too Many Requests",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    path: Mapping[str, str] | None = None,
    stage_variables: Mapping[str, str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    return render_error(
        response,
        message=message,
        request_headers=headers or {},
        query=query or {},
        path=path or {},
        stage_variables=stage_variables or {},
        context=context or {"requestId": "req-1", "stage": "prod"},
        render_template=render,
    )


def test_every_type_of_the_apigateway_api_is_known() -> None:
    model = botocore.session.get_session().get_service_model("apigateway")

    assert {str(kind) for kind in ResponseType} == set(model.shape_for("GatewayResponseType").enum)
    assert set(DEFAULTS) == set(ResponseType)


@pytest.mark.parametrize(("kind", "defaults"), DEFAULTS.items(), ids=str)
def test_each_type_has_its_documented_defaults(
    kind: ResponseType, defaults: tuple[int | None, str | None, ResponseType]
) -> None:
    assert (kind.default_status_code, kind.default_message, kind.family) == defaults


@pytest.mark.parametrize("kind", list(ResponseType), ids=str)
def test_a_type_not_customised_answers_its_default(kind: ResponseType) -> None:
    response = GatewayResponses().resolve(kind)

    assert response == GatewayResponse(
        type=kind,
        status_code=kind.default_status_code,
        response_parameters={},
        response_templates={"application/json": DEFAULT_TEMPLATE},
        default_response=True,
    )


CORS = {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}
OTHER = {"gatewayresponse.header.X-Other": "'o'"}
CUSTOM = {"application/json": '{"error":$context.error.messageString}'}
TEXT = {"text/plain": "$context.error.message"}


@pytest.mark.parametrize("kind", FOUR_XX, ids=str)
def test_a_customised_default_4xx_lends_its_headers_and_templates_to_4xx_types(
    kind: ResponseType,
) -> None:
    responses = GatewayResponses(
        [
            GatewayResponse(
                type=D4, status_code=None, response_parameters=CORS, response_templates=CUSTOM
            )
        ]
    )

    response = responses.resolve(kind)

    assert (response.status_code, response.response_parameters, response.response_templates) == (
        kind.default_status_code,
        CORS,
        CUSTOM,
    )
    assert response.default_response is True
    assert response.type is kind


@pytest.mark.parametrize("kind", FIVE_XX, ids=str)
def test_a_customised_default_5xx_lends_its_headers_and_templates_to_5xx_types(
    kind: ResponseType,
) -> None:
    responses = GatewayResponses(
        [
            GatewayResponse(
                type=D5, status_code=None, response_parameters=CORS, response_templates=TEXT
            )
        ]
    )

    response = responses.resolve(kind)

    assert (response.status_code, response.response_parameters, response.response_templates) == (
        kind.default_status_code,
        CORS,
        TEXT,
    )


@pytest.mark.parametrize("kind", FOUR_XX, ids=str)
def test_a_family_status_code_replaces_the_status_of_its_types(kind: ResponseType) -> None:
    responses = GatewayResponses([gateway_response("DEFAULT_4XX", status_code="418")])

    assert responses.resolve(kind).status_code == 418
    assert responses.resolve(R.INTEGRATION_TIMEOUT).status_code == 504


@pytest.mark.parametrize("kind", FIVE_XX, ids=str)
def test_a_4xx_customisation_leaves_5xx_types_alone(kind: ResponseType) -> None:
    responses = GatewayResponses(
        [gateway_response("DEFAULT_4XX", status_code=418, response_parameters=CORS)]
    )

    assert responses.resolve(kind) == GatewayResponses().resolve(kind)


@pytest.mark.parametrize(
    ("customised", "kind", "status", "parameters", "templates", "default_response"),
    [
        # the type's own customisation replaces the family's wholly
        (
            [
                gateway_response(
                    "DEFAULT_4XX",
                    status_code=400,
                    response_parameters=CORS,
                    response_templates=TEXT,
                )
            ],
            R.THROTTLED,
            400,
            CORS,
            TEXT,
            True,
        ),
        (
            [
                gateway_response(
                    "DEFAULT_4XX",
                    status_code=400,
                    response_parameters=CORS,
                    response_templates=TEXT,
                ),
                gateway_response("THROTTLED", response_parameters=OTHER, response_templates=CUSTOM),
            ],
            R.THROTTLED,
            429,  # its own default: the family's status only applies to types not customised
            OTHER,
            CUSTOM,
            False,
        ),
        (
            [gateway_response("THROTTLED", status_code="503")],
            R.THROTTLED,
            503,
            {},
            {"application/json": DEFAULT_TEMPLATE},  # no templates given: the default one
            False,
        ),
        (
            [
                gateway_response(
                    "MISSING_AUTHENTICATION_TOKEN", status_code=404, response_parameters=CORS
                )
            ],
            R.MISSING_AUTHENTICATION_TOKEN,
            404,
            CORS,
            {"application/json": DEFAULT_TEMPLATE},
            False,
        ),
        (
            [gateway_response("MISSING_AUTHENTICATION_TOKEN", status_code=404)],
            R.THROTTLED,  # another type is untouched
            429,
            {},
            {"application/json": DEFAULT_TEMPLATE},
            True,
        ),
        (
            [gateway_response("DEFAULT_5XX", status_code=502, response_parameters=CORS)],
            R.INTEGRATION_FAILURE,
            502,
            CORS,
            {"application/json": DEFAULT_TEMPLATE},
            True,
        ),
        (
            [gateway_response("DEFAULT_4XX", response_parameters=CORS)],
            R.DEFAULT_4XX,  # the family itself
            None,
            CORS,
            {"application/json": DEFAULT_TEMPLATE},
            False,
        ),
        (
            [gateway_response("DEFAULT_5XX", response_parameters=CORS)],
            R.DEFAULT_4XX,
            None,
            {},
            {"application/json": DEFAULT_TEMPLATE},
            True,
        ),
    ],
)
def test_resolution_falls_back_from_type_to_family_to_default(
    customised: list[GatewayResponse],
    kind: ResponseType,
    status: int | None,
    parameters: dict[str, str],
    templates: dict[str, str],
    default_response: bool,
) -> None:
    response = GatewayResponses(customised).resolve(kind)

    assert response == GatewayResponse(
        type=kind,
        status_code=status,
        response_parameters=parameters,
        response_templates=templates,
        default_response=default_response,
    )


def test_responses_come_from_the_openapi_extension() -> None:
    extension = {
        "MISSING_AUTHENTICATION_TOKEN": {
            "statusCode": 404,
            "responseParameters": {
                "gatewayresponse.header.x-request-path": "method.request.path.petId"
            },
            "responseTemplates": {"application/json": '{"message": $context.error.messageString}'},
        },
        "INVALID_API_KEY": {"statusCode": "456"},
        "DEFAULT_5XX": {"responseParameters": CORS},
    }

    responses = GatewayResponses.from_extension(extension)

    assert responses.resolve("MISSING_AUTHENTICATION_TOKEN").status_code == 404
    assert responses.resolve("MISSING_AUTHENTICATION_TOKEN").response_parameters == {
        "gatewayresponse.header.x-request-path": "method.request.path.petId"
    }
    assert responses.resolve(R.INVALID_API_KEY).status_code == 456
    assert responses.resolve(R.INTEGRATION_TIMEOUT).response_parameters == CORS


def test_responses_come_from_the_stored_definitions() -> None:
    definitions = [
        GatewayResponseDefinition(
            response_type="THROTTLED", status_code="503", response_templates=TEXT
        ),
        # what GetGatewayResponses reports for a type not customised is no customisation
        GatewayResponseDefinition(
            response_type="QUOTA_EXCEEDED", status_code="500", default_response=True
        ),
    ]

    responses = GatewayResponses.from_definitions(definitions)

    assert (
        responses.resolve(R.THROTTLED).status_code,
        responses.resolve(R.THROTTLED).response_templates,
    ) == (
        503,
        TEXT,
    )
    assert responses.resolve(R.QUOTA_EXCEEDED).status_code == 429


@pytest.mark.parametrize(
    ("response_type", "status_code"),
    [
        ("NOT_A_TYPE", None),
        ("throttled", None),
        ("THROTTLED", "600"),
        ("THROTTLED", "42"),
        ("THROTTLED", "abc"),
    ],
)
def test_an_unknown_type_or_a_bad_status_code_is_refused(
    response_type: str, status_code: str | None
) -> None:
    with pytest.raises(BadRequest):
        gateway_response(response_type, status_code=status_code)


def test_all_responses_resolve_in_type_order() -> None:
    responses = GatewayResponses([gateway_response("THROTTLED", status_code=503)])

    resolved = responses.resolve_all()

    assert [response.type for response in resolved] == list(ResponseType)
    assert [response.default_response for response in resolved].count(False) == 1


def test_a_response_has_its_apigateway_document() -> None:
    responses = GatewayResponses(
        [gateway_response("THROTTLED", status_code=503, response_parameters=CORS)]
    )

    assert responses.resolve(R.THROTTLED).document() == {
        "responseType": "THROTTLED",
        "statusCode": "503",
        "responseParameters": CORS,
        "responseTemplates": {"application/json": DEFAULT_TEMPLATE},
        "defaultResponse": False,
    }
    assert "statusCode" not in GatewayResponses().resolve(D5).document()


def test_the_default_body_is_the_message_as_json() -> None:
    status, headers, body = answer(GatewayResponses().resolve(R.THROTTLED))

    assert status == 429
    assert body == b'{"message":"Too Many Requests"}'
    assert headers == {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": "TooManyRequestsException",
    }


@pytest.mark.parametrize("kind", list(ResponseType), ids=str)
def test_every_default_answer_is_json_with_its_message(kind: ResponseType) -> None:
    status, headers, body = answer(GatewayResponses().resolve(kind), message=kind.default_message)

    assert status == (kind.default_status_code or (500 if kind.family is D5 else 400))
    assert json.loads(body) == {"message": kind.default_message}
    assert headers["Content-Type"] == "application/json"
    assert headers.get("x-amzn-ErrorType") == kind.error_type


@pytest.mark.parametrize(
    "message",
    [
        'He said "no"',
        "back\\slash",
        "line\nbreak",
        "Zürich ✓",
        "Missing required request parameters: [q1]",
    ],
)
def test_the_message_string_is_quoted_so_the_body_stays_json(message: str) -> None:
    _, _, body = answer(GatewayResponses().resolve(R.BAD_REQUEST_BODY), message=message)

    assert json.loads(body) == {"message": message}


def test_a_message_of_none_answers_null() -> None:
    _, _, body = answer(GatewayResponses().resolve(R.AUTHORIZER_CONFIGURATION_ERROR), message=None)

    assert body == b'{"message":null}'


def test_the_template_sees_the_error_and_the_rest_of_the_context() -> None:
    response = gateway_response(
        "BAD_REQUEST_BODY",
        response_templates={
            "application/json": (
                '{"m":"$context.error.message","t":"$context.error.responseType",'
                '"v":"$context.error.validationErrorString","r":"$context.requestId"}'
            )
        },
    )
    context = {"requestId": "req-9", "error": {"validationErrorString": "[bad]"}}

    _, _, body = answer(response, message="Invalid request body", context=context)

    assert json.loads(body) == {
        "m": "Invalid request body",
        "t": "BAD_REQUEST_BODY",
        "v": "[bad]",
        "r": "req-9",
    }


REQUEST = {
    "headers": {"Origin": "https://app.example", "X-Multi": "a,b", "Accept": "application/json"},
    "query": {"q": "cats", "shared": "from-query"},
    "path": {"petId": "42", "shared": "from-path"},
    "stage_variables": {"region": "eu"},
    "context": {
        "requestId": "req-1",
        "authorizer": {"principalId": "user-7", "admin": True},
        "port": 443,
    },
}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("'*'", "*"),
        ("'a.b.c'", "a.b.c"),
        ("''", ""),
        ("method.request.header.Origin", "https://app.example"),
        ("method.request.header.origin", "https://app.example"),  # case-insensitive
        ("method.request.multivalueheader.X-Multi", "a,b"),
        ("method.request.header.Absent", None),
        ("method.request.querystring.q", "cats"),
        ("method.request.multivaluequerystring.q", "cats"),
        ("method.request.querystring.Q", None),
        ("method.request.path.petId", "42"),
        ("method.request.path.other", None),
        ("method.input.params.shared", "from-path"),  # the older form: path, query, header
        ("method.input.params.q", "cats"),
        ("method.input.params.Origin", "https://app.example"),
        ("stageVariables.region", "eu"),
        ("stageVariables.absent", None),
        ("context.requestId", "req-1"),
        ("context.authorizer.principalId", "user-7"),
        ("context.authorizer.admin", "true"),
        ("context.port", "443"),
        ("context.error.responseType", "ACCESS_DENIED"),
        ("context.authorizer", None),  # not a value
        ("context.absent.deeper", None),
        ("integration.response.header.X", None),  # not a source here
        ("*", None),  # unquoted literal
    ],
)
def test_header_parameters_map_from_the_request(source: str, value: str | None) -> None:
    response = gateway_response(
        "ACCESS_DENIED", response_parameters={"gatewayresponse.header.X-Out": source}
    )

    _, headers, _ = answer(
        response,
        headers=REQUEST["headers"],
        query=REQUEST["query"],
        path=REQUEST["path"],
        stage_variables=REQUEST["stage_variables"],
        context=REQUEST["context"],
    )

    assert headers.get("X-Out") == value


def test_only_header_parameters_make_headers() -> None:
    response = gateway_response(
        "ACCESS_DENIED",
        response_parameters={
            "gatewayresponse.querystring.x": "'1'",
            "gatewayresponse.path.y": "'2'",
        },
    )

    _, headers, _ = answer(response)

    assert set(headers) == {"Content-Type", "x-amzn-ErrorType"}


def test_a_header_parameter_replaces_a_default_header_whatever_its_case() -> None:
    response = gateway_response(
        "THROTTLED",
        response_parameters={
            "gatewayresponse.header.content-type": "'application/problem+json'",
            "gatewayresponse.header.X-Amzn-ErrorType": "'Custom'",
        },
    )

    _, headers, _ = answer(response)

    assert headers == {"content-type": "application/problem+json", "X-Amzn-ErrorType": "Custom"}


@pytest.mark.parametrize(
    ("templates", "accept", "content_type", "body"),
    [
        (
            {"application/json": '{"a":1}', "text/plain": "plain"},
            "text/plain",
            "text/plain",
            b"plain",
        ),
        (
            {"application/json": '{"a":1}', "text/plain": "plain"},
            "text/html, text/plain;q=0.9",
            "text/plain",
            b"plain",
        ),
        (
            {"application/json": '{"a":1}', "text/plain": "plain"},
            "TEXT/PLAIN",
            "text/plain",
            b"plain",
        ),
        (
            {"application/json": '{"a":1}', "text/plain": "plain"},
            "text/html",
            "application/json",
            b'{"a":1}',
        ),
        (
            {"application/json": '{"a":1}', "text/plain": "plain"},
            None,
            "application/json",
            b'{"a":1}',
        ),
        (
            {"application/json": '{"a":1}', "text/plain": "plain"},
            "*/*",
            "application/json",
            b'{"a":1}',
        ),
        ({"text/plain": "plain", "text/html": "<p/>"}, None, "text/plain", b"plain"),  # the first
        ({"text/plain": "plain", "text/html": "<p/>"}, "text/html", "text/html", b"<p/>"),
    ],
)
def test_the_template_is_chosen_by_accept_then_json_then_first(
    templates: dict[str, str], accept: str | None, content_type: str, body: bytes
) -> None:
    response = gateway_response("UNAUTHORIZED", response_templates=templates)

    _, headers, rendered = answer(response, headers={"Accept": accept} if accept else {})

    assert (headers["Content-Type"], rendered) == (content_type, body)


@pytest.mark.parametrize(("kind", "status"), [(D4, 400), (D5, 500)])
def test_an_unset_family_status_answers_400_or_500(kind: ResponseType, status: int) -> None:
    assert answer(GatewayResponses().resolve(kind))[0] == status


def test_a_customised_status_is_answered() -> None:
    responses = GatewayResponses([gateway_response("DEFAULT_4XX", status_code=499)])

    assert answer(responses.resolve(R.INVALID_API_KEY))[0] == 499
