"""The integration step: the request mapped, the backend called, its answer mapped back.

``MOCK``, ``AWS`` and ``HTTP`` integrations map the request (``requestParameters`` and the
request template chosen by content type and ``passthroughBehavior``), call the backend,
and map its answer through the integration response its status (or error message)
selects. ``HTTP_PROXY`` passes the request and the answer through as they are;
``AWS_PROXY`` sends the Lambda proxy event and reads the function's proxy response.

What the backend did (``status``, ``integrationStatus``, ``latency`` in ms, ``error``) is
noted in the ``facts`` the caller gives: the access log's ``$context.integration``. It is
kept out of ``$context`` itself, which every template render copies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson

from modelyard.gateway.definitions import IntegrationType
from modelyard.gateway.integrations import (
    Backends,
    IntegrationAnswer,
    IntegrationCall,
    IntegrationFailed,
    IntegrationUrlNotAllowed,
)
from modelyard.gateway.lambda_proxy import (
    MalformedProxyResponse,
    parse_proxy_response,
    proxy_event,
    request_context,
)
from modelyard.gateway.mapping import (
    Sources,
    choose_request_template,
    map_parameters,
    media_type,
    select_integration_response,
)
from modelyard.gateway.messages import GatewayAnswer, GatewayRequest, json_answer
from modelyard.gateway.refusals import Refused
from modelyard.gateway.responses import ResponseType
from modelyard.gateway.routing import Match
from modelyard.gateway.vtl import RequestData, render

__all__ = ["IntegrationStep"]

# The runtime's logger: the steps it is split into log as the runtime, as they always have.
logger = logging.getLogger("modelyard.gateway.runtime")


class IntegrationStep:
    """Takes a routed request through its method's integration (see the module).

    ``account_id`` and ``domain`` go into the Lambda proxy event's ``requestContext``.
    """

    def __init__(self, *, backends: Backends, account_id: str, domain: str) -> None:
        self._backends = backends
        self._account_id = account_id
        self._domain = domain

    async def integrate(
        self,
        request: GatewayRequest,
        match: Match,
        headers: Mapping[str, list[str]],
        query: Mapping[str, list[str]],
        variables: dict[str, str],
        context: dict[str, Any],
        facts: dict[str, Any] | None = None,
    ) -> GatewayAnswer:
        """The method's answer from its integration; raises :class:`Refused` for a method
        without one, a content type no template takes, or an answer no integration
        response selects. ``headers`` (names in lower case) and ``query`` hold every
        value of each name; ``context`` is the request's ``$context``; ``facts``, if
        given, gets what the backend did (see the module)."""
        facts = {} if facts is None else facts
        integration = match.method.method_integration
        if integration is None:
            raise Refused(ResponseType.API_CONFIGURATION_ERROR, "Internal server error")
        sources = Sources(
            path=match.path_parameters,
            query=query,
            headers=headers,
            body=request.body,
            stage_variables=variables,
            context=context,
        )
        if integration.type is IntegrationType.AWS_PROXY:
            return await self._lambda_proxy(
                request, match, headers, query, variables, context, facts
            )
        mapped = map_parameters(integration.request_parameters, "integration.request.", sources)
        content_type = headers.get("content-type", ["application/json"])[-1]
        template_data = RequestData(
            body=request.body,
            path=match.path_parameters,
            querystring={name: values[0] for name, values in query.items()},
            multi_querystring=query,
            headers={name: values[-1] for name, values in headers.items()},
        )
        if integration.type is IntegrationType.HTTP_PROXY:
            body, call_headers = (
                request.body,
                {name: values[-1] for name, values in headers.items() if name != "host"},
            )
        else:
            choice = choose_request_template(
                integration.request_templates, integration.passthrough_behavior, content_type
            )
            if choice.unsupported:
                raise Refused(ResponseType.UNSUPPORTED_MEDIA_TYPE)
            if choice.template is not None:
                rendered = render(
                    choice.template,
                    request=template_data,
                    context=context,
                    stage_variables=variables,
                )
                body = rendered.text.encode()
                mapped["header"].update(rendered.request_override.header)
                mapped["querystring"].update(rendered.request_override.querystring)
                mapped["path"].update(rendered.request_override.path)
            else:
                body = request.body
            call_headers = dict(mapped["header"])
        uri = _substitute(
            integration.uri or "", variables, {**match.path_parameters, **mapped["path"]}
        )
        call = IntegrationCall(
            method=(integration.http_method or request.http_method).upper(),
            uri=uri,
            headers=call_headers,
            query=(
                {n: v[-1] for n, v in query.items()}
                if integration.type is IntegrationType.HTTP_PROXY
                else mapped["querystring"]
            ),
            body=body,
            content_type=media_type(content_type),
            timeout_s=integration.timeout_in_millis / 1000,
        )
        started = time.perf_counter()
        if integration.type is IntegrationType.MOCK:
            answer = _mock_answer(body)
        elif integration.type is IntegrationType.AWS:
            answer = await self._backends.aws(call, str(context["requestId"]))
        else:
            try:
                answer = await self._backends.http(call)
            except IntegrationFailed as exc:
                facts.update(error=exc.message, latency=_ms_since(started))
                if (
                    isinstance(exc, IntegrationUrlNotAllowed)
                    and integration.type is IntegrationType.HTTP_PROXY
                ):
                    # API Gateway answers a proxy integration's failure with a 502.
                    raise Refused(
                        ResponseType.API_CONFIGURATION_ERROR, exc.public_message, status=502
                    ) from exc
                raise
        _note(facts, answer.status, started)
        if integration.type is IntegrationType.HTTP_PROXY:
            return GatewayAnswer(
                status=answer.status,
                headers={
                    name: value
                    for name, value in answer.headers.items()
                    if name.lower() not in ("content-length", "transfer-encoding", "connection")
                },
                body=answer.body,
            )
        return _integration_response(
            answer, integration, template_data, sources, headers, variables, context
        )

    async def _lambda_proxy(
        self,
        request: GatewayRequest,
        match: Match,
        headers: Mapping[str, list[str]],
        query: Mapping[str, list[str]],
        variables: dict[str, str],
        context: dict[str, Any],
        facts: dict[str, Any],
    ) -> GatewayAnswer:
        integration = match.method.method_integration
        assert integration is not None
        event = proxy_event(
            resource=match.resource.path,
            path=request.path,
            http_method=request.http_method.upper(),
            headers={name: values[-1] for name, values in headers.items()},
            multi_value_headers=headers,
            query={name: values[-1] for name, values in query.items()},
            multi_value_query=query,
            path_parameters=match.path_parameters,
            stage_variables=variables,
            request_context=request_context(
                account_id=self._account_id,
                api_id=request.api_id,
                stage=request.stage,
                resource_id=match.resource.id,
                resource_path=match.resource.path,
                http_method=request.http_method.upper(),
                path=f"/{request.stage}{request.path}",
                request_id=str(context["requestId"]),
                request_time_epoch_ms=int(context["requestTimeEpoch"]),
                source_ip=request.source_ip,
                user_agent=headers.get("user-agent", [""])[-1],
                authorizer=context.get("authorizer"),
                domain_name=self._domain,
            ),
            body=request.body,
            binary=False,
        )
        call = IntegrationCall(
            method="POST",
            uri=_substitute(integration.uri or "", variables, match.path_parameters),
            body=orjson.dumps(event),
            timeout_s=integration.timeout_in_millis / 1000,
        )
        started = time.perf_counter()
        answer = await self._backends.aws(call, str(context["requestId"]))
        _note(facts, answer.status, started)
        if answer.error_message is not None:
            facts["error"] = answer.error_message
            raise Refused(ResponseType.DEFAULT_5XX, "Internal server error", status=502)
        try:
            parsed = parse_proxy_response(orjson.loads(answer.body))
            facts["integrationStatus"] = parsed.status
        except (MalformedProxyResponse, orjson.JSONDecodeError):
            logger.warning(
                "Execution failed due to configuration error: Malformed Lambda proxy response"
            )
            return json_answer(502, {"message": "Internal server error"}, None)
        return GatewayAnswer(status=parsed.status, headers=dict(parsed.headers), body=parsed.body)


def _integration_response(
    answer: IntegrationAnswer,
    integration: Any,
    template_data: RequestData,
    sources: Sources,
    headers: Mapping[str, list[str]],
    variables: dict[str, str],
    context: dict[str, Any],
) -> GatewayAnswer:
    """The method's answer from the backend's: mapped through the integration response
    its status (or error message) selects."""
    key = answer.error_message if answer.error_message is not None else str(answer.status)
    response = select_integration_response(integration.integration_responses, key)
    if response is None:
        if answer.error_message is None and integration.type is IntegrationType.HTTP:
            # No integration response at all: API Gateway passes the answer through.
            return GatewayAnswer(
                status=answer.status, headers=_content_type(answer), body=answer.body
            )
        raise Refused(ResponseType.API_CONFIGURATION_ERROR, "Internal server error")
    response_sources = Sources(
        path=sources.path,
        query=sources.query,
        headers=sources.headers,
        body=sources.body,
        stage_variables=variables,
        context=context,
        response_headers={name.lower(): value for name, value in answer.headers.items()},
        response_body=answer.body,
    )
    mapped = map_parameters(response.response_parameters, "method.response.", response_sources)
    out_headers = dict(mapped["header"])
    status = int(response.status_code)
    templates = response.response_templates or {}
    accept = media_type(headers.get("accept", ["application/json"])[-1])
    chosen = next(
        ((ct, t) for ct, t in templates.items() if media_type(ct) == accept),
        next(iter(templates.items()), None),
    )
    body = answer.body
    if chosen is not None and chosen[1].strip():
        rendered = render(
            chosen[1],
            request=template_data,
            context=context,
            stage_variables=variables,
            body=answer.body,
        )
        body = rendered.text.encode()
        out_headers.setdefault("Content-Type", chosen[0])
        out_headers.update(rendered.response_override.header)
        if rendered.response_override.status is not None:
            status = rendered.response_override.status
    elif chosen is not None:
        out_headers.setdefault("Content-Type", chosen[0])
    else:
        out_headers.setdefault(
            "Content-Type", _content_type(answer).get("Content-Type", "application/json")
        )
    return GatewayAnswer(status=status, headers=out_headers, body=body)


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _note(facts: dict[str, Any], status: int, started: float) -> None:
    """Note the call's status, the backend's own (the same but for a Lambda proxy function,
    whose ``statusCode`` replaces it) and the latency in ms."""
    facts.update(status=status, integrationStatus=status, latency=_ms_since(started))


def _content_type(answer: IntegrationAnswer) -> dict[str, str]:
    for name, value in answer.headers.items():
        if name.lower() == "content-type":
            return {"Content-Type": value}
    return {"Content-Type": "application/json"}


def _mock_answer(body: bytes) -> IntegrationAnswer:
    """A MOCK integration's answer: the status its request template asked for."""
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        document = {}
    status = document.get("statusCode", 200) if isinstance(document, dict) else 200
    try:
        code = int(status)
    except (TypeError, ValueError):
        code = 200
    return IntegrationAnswer(status=code, headers={}, body=b"")


def _substitute(uri: str, variables: Mapping[str, str], path: Mapping[str, str]) -> str:
    for name, value in variables.items():
        uri = uri.replace(f"${{stageVariables.{name}}}", value)
    for name, value in path.items():
        uri = uri.replace(f"{{{name}}}", value).replace(f"{{{name}+}}", value)
    return uri
