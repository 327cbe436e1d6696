"""Serving a deployed REST API: one request through API Gateway's steps.

stage (and canary) → resource and method → authorizer → API key and usage plan →
request validation → throttling (account, stage, method, key) and quota → response
cache → integration (request mapping, the backend, integration response mapping) → the
method's answer. A refusal at any step is answered with its gateway response (the API's
customised one, else API Gateway's default), rendered by its template. Every answer
carries ``x-amzn-RequestId``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from modelyard.errors import ModelyardError
from modelyard.gateway.authorizers import Authorized, Authorizers, RequestFacts, api_key_of
from modelyard.gateway.cache import CachedResponse, CacheSettings, ResponseCache, cache_key
from modelyard.gateway.definitions import IntegrationType, Method
from modelyard.gateway.deployed import DeployedApi, DeployedStage, StageLoader
from modelyard.gateway.integrations import Backends, IntegrationAnswer, IntegrationCall
from modelyard.gateway.keys import KeyOperations
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
from modelyard.gateway.quotas import Period, Quota, QuotaCounters
from modelyard.gateway.responses import ResponseType, render_error
from modelyard.gateway.routing import Match
from modelyard.gateway.stages import method_setting
from modelyard.gateway.throttling import Limit, TokenBuckets
from modelyard.gateway.validation import RequestShape, Validator, check_request
from modelyard.gateway.vtl import RequestData, render
from modelyard.ids import uuid4_string

__all__ = ["GatewayAnswer", "GatewayRequest", "GatewayRuntime", "Refused"]

logger = logging.getLogger(__name__)

#: API Gateway's account-level throttle (per region): 10,000 requests/s, burst 5,000.
ACCOUNT_LIMIT: Final = Limit(rate=10_000.0, burst=5_000)


@dataclass(frozen=True, kw_only=True)
class GatewayRequest:
    """One request to a deployed API, as the HTTP layer received it."""

    api_id: str
    stage: str
    #: The path under the stage, from ``/``.
    path: str
    http_method: str
    #: Every header, in order (names as sent).
    headers: Sequence[tuple[str, str]]
    #: Every query parameter, in order.
    query: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    #: For SigV4 (AWS_IAM): the request as sent.
    host: str = ""
    raw_path: str = "/"
    query_string: str = ""


@dataclass(frozen=True, kw_only=True)
class GatewayAnswer:
    """The answer to send."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Refused(ModelyardError):
    """A request refused at one of the gateway's steps, with the response type to answer."""

    def __init__(
        self, response_type: ResponseType, message: str | None = None, **error: Any
    ) -> None:
        super().__init__(message if message is not None else response_type.default_message)
        self.response_type = response_type
        #: Extra ``$context.error`` members (``validationErrorString``).
        self.error = error


class GatewayRuntime:
    """Serves deployed APIs (see the module)."""

    def __init__(
        self,
        *,
        stages: StageLoader,
        keys: KeyOperations,
        authorizers: Authorizers,
        backends: Backends,
        buckets: TokenBuckets,
        quotas: QuotaCounters,
        cache: ResponseCache | None = None,
        region: str,
        account_id: str,
        domain: str,
    ) -> None:
        self._stages = stages
        self._keys = keys
        self._authorizers = authorizers
        self._backends = backends
        self._buckets = buckets
        self._quotas = quotas
        self._cache = cache or ResponseCache()
        self._region = region
        self._account_id = account_id
        self._domain = domain
        self._random = random.Random()

    async def start(self) -> None:
        """Nothing to resume."""

    async def stop(self) -> None:
        """Close the backends' connections."""
        await self._backends.close()

    async def handle(self, request: GatewayRequest) -> GatewayAnswer:
        """The answer to ``request``; never raises for what a request can do."""
        request_id = uuid4_string()
        started = time.time()
        headers = _multi(request.headers, lower=True)
        query = _multi(request.query)
        stage = await self._stages.load(request.api_id, request.stage)
        if stage is None:
            return _plain(403, {"message": "Forbidden"}, request_id)
        canary = self._random.random() * 100 < (
            stage.canary_settings.percent_traffic if stage.canary_settings else 0.0
        )
        deployed = stage.canary if canary and stage.canary is not None else stage.main
        variables = dict(stage.variables)
        if canary and stage.canary_settings is not None:
            variables.update(stage.canary_settings.stage_variable_overrides)
        context: dict[str, Any] = {
            "requestId": request_id,
            "extendedRequestId": request_id,
            "accountId": self._account_id,
            "apiId": request.api_id,
            "stage": request.stage,
            "httpMethod": request.http_method.upper(),
            "path": f"/{request.stage}{request.path}",
            "protocol": "HTTP/1.1",
            "domainName": self._domain,
            "requestTime": datetime.fromtimestamp(started, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(started * 1000),
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", [None])[-1],
            },
            "isCanaryRequest": canary,
        }
        match = deployed.routes.match(request.http_method, request.path)
        try:
            if match is None:
                raise Refused(ResponseType.MISSING_AUTHENTICATION_TOKEN)
            context.update(resourceId=match.resource.id, resourcePath=match.resource.path)
            answer = await self._serve(
                request, stage, deployed, match, headers, query, variables, context
            )
        except Refused as refused:
            answer = self._refusal(deployed, refused, headers, query, match, variables, context)
        except ModelyardError as exc:
            # The authorizers' and integrations' errors name their gateway response and
            # what the caller may be told; anything else is a 5xx of the gateway.
            kind = getattr(exc, "response_type", None)
            if kind is None:
                logger.warning("gateway %s %s: %s", request.http_method, request.path, exc.message)
            told = getattr(exc, "public_message", "Internal server error")
            refusal = Refused(ResponseType(kind or "DEFAULT_5XX"), told)
            answer = self._refusal(deployed, refusal, headers, query, match, variables, context)
        except Exception:  # a bug of ours: the caller still gets API Gateway's answer
            logger.exception("gateway %s %s failed", request.http_method, request.path)
            refusal = Refused(ResponseType.DEFAULT_5XX, "Internal server error")
            answer = self._refusal(deployed, refusal, headers, query, match, variables, context)
        answer.headers["x-amzn-RequestId"] = request_id
        return answer

    # -- the steps ------------------------------------------------------------------------

    async def _serve(
        self,
        request: GatewayRequest,
        stage: DeployedStage,
        deployed: DeployedApi,
        match: Match,
        headers: Mapping[str, list[str]],
        query: Mapping[str, list[str]],
        variables: dict[str, str],
        context: dict[str, Any],
    ) -> GatewayAnswer:
        method = match.method
        api = deployed.api
        facts = RequestFacts(
            api_id=request.api_id,
            stage=request.stage,
            http_method=request.http_method.upper(),
            resource_path=match.resource.path,
            path=request.path,
            headers={name: values[-1] for name, values in headers.items()},
            query={name: values[-1] for name, values in query.items()},
            path_parameters=dict(match.path_parameters),
            stage_variables=variables,
            context=context,
            method_arn=(
                f"arn:aws:execute-api:{self._region}:{self._account_id}:{request.api_id}/"
                f"{request.stage}/{request.http_method.upper()}/{request.path.lstrip('/')}"
            ),
            method=request.http_method.upper(),
            host=request.host,
            raw_path=request.raw_path,
            query_string=request.query_string,
            body=request.body,
        )
        authorizer = api.authorizers.get(method.authorizer_id or "")
        authorized = await self._authorizers.authorize(method, authorizer, facts)
        authorizer_context = authorized.authorizer_context()
        if authorizer_context:
            context["authorizer"] = authorizer_context
        if authorized.identity:
            context["identity"] = {**context["identity"], **authorized.identity}
        plan_limits = await self._check_api_key(
            request, method, api.api_key_source.value, authorized, headers, match, context
        )
        validator = api.request_validators.get(method.request_validator_id or "")
        if validator is not None:
            self._validate(method, deployed, validator, request, match, headers, query)
        await self._throttle(request, stage, match, plan_limits)
        settings = method_setting(stage.document, match.resource.path, request.http_method)
        cache_settings = _cache_settings(stage, settings)
        key = None
        if cache_settings is not None and request.http_method.upper() == "GET":
            integration = method.method_integration
            key = cache_key(
                api_id=request.api_id,
                stage=request.stage,
                deployment_id=deployed.deployment_id,
                method=request.http_method.upper(),
                resource_path=match.resource.path,
                key_parameters=(integration.cache_key_parameters or []) if integration else [],
                path=match.path_parameters,
                querystring=query,
                headers={name: values[-1] for name, values in headers.items()},
            )
            cached = self._cache.get(key)
            if cached is not None:
                return GatewayAnswer(
                    status=cached.status, headers=dict(cached.headers), body=cached.body
                )
        answer = await self._integrate(request, match, headers, query, variables, context)
        if key is not None and cache_settings is not None:
            self._cache.put(
                key,
                CachedResponse(
                    status=answer.status, headers=tuple(answer.headers.items()), body=answer.body
                ),
                cache_settings.ttl_s,
            )
        return answer

    async def _check_api_key(
        self,
        request: GatewayRequest,
        method: Method,
        source: str,
        authorized: Authorized,
        headers: Mapping[str, list[str]],
        match: Match,
        context: dict[str, Any],
    ) -> list[tuple[str, Limit | None, Quota | None]]:
        """The usage plans' limits of the request's API key ((key, throttle, quota) per
        plan); an empty list for a method that requires no key."""
        if not method.api_key_required:
            return []
        value = api_key_of({n: v[-1] for n, v in headers.items()}, source, authorized)
        if not value:
            raise Refused(ResponseType.INVALID_API_KEY)
        key = await self._keys.key_of_value(value)
        if key is None or not key.enabled:
            raise Refused(ResponseType.INVALID_API_KEY)
        limits: list[tuple[str, Limit | None, Quota | None]] = []
        for plan in await self._keys.plans_of_key(key.id):
            for stage in plan.document.get("apiStages") or []:
                if stage.get("apiId") == request.api_id and stage.get("stage") == request.stage:
                    throttle = _plan_throttle(plan.document, stage, match, request.http_method)
                    limits.append((f"{plan.id}:{key.id}", throttle, _quota(plan.document)))
        if not limits:
            raise Refused(ResponseType.INVALID_API_KEY)
        context["identity"] = {**context["identity"], "apiKey": value, "apiKeyId": key.id}
        return limits

    def _validate(
        self,
        method: Method,
        deployed: DeployedApi,
        validator: Any,
        request: GatewayRequest,
        match: Match,
        headers: Mapping[str, list[str]],
        query: Mapping[str, list[str]],
    ) -> None:
        models = {
            content_type: deployed.models[name]
            for content_type, name in (method.request_models or {}).items()
            if name in deployed.models
        }
        try:
            check_request(
                RequestShape(parameters=method.request_parameters or {}, models=models),
                Validator(
                    name=validator.name,
                    validate_request_body=validator.validate_request_body,
                    validate_request_parameters=validator.validate_request_parameters,
                ),
                path=match.path_parameters,
                querystring=query,
                headers={name: values[-1] for name, values in headers.items()},
                content_type=headers.get("content-type", [None])[-1],
                body=request.body,
            )
        except ModelyardError as exc:
            detail = getattr(exc, "detail", None)
            kind = (
                ResponseType.BAD_REQUEST_PARAMETERS
                if type(exc).__name__ == "MissingRequestParameters"
                else ResponseType.BAD_REQUEST_BODY
            )
            raise Refused(kind, exc.message, validationErrorString=detail or exc.message) from exc

    async def _throttle(
        self,
        request: GatewayRequest,
        stage: DeployedStage,
        match: Match,
        plans: list[tuple[str, Limit | None, Quota | None]],
    ) -> None:
        settings = method_setting(stage.document, match.resource.path, request.http_method)
        levels: list[tuple[str, Limit]] = [("account", ACCOUNT_LIMIT)]
        stage_limit = _limit(stage.document.get("methodSettings", {}).get("*/*", {}))
        if stage_limit is not None:
            levels.append((f"stage:{request.api_id}:{request.stage}", stage_limit))
        method_limit = _limit(settings)
        if method_limit is not None:
            levels.append(
                (
                    f"method:{request.api_id}:{request.stage}:"
                    f"{request.http_method.upper()} {match.resource.path}",
                    method_limit,
                )
            )
        for key, throttle, _ in plans:
            if throttle is not None:
                levels.append((f"key:{key}", throttle))
        if await self._buckets.take(levels) is not None:
            raise Refused(ResponseType.THROTTLED)
        for key, _, quota in plans:
            if quota is not None:
                state = await self._quotas.consume(key, quota)
                if not state.allowed:
                    raise Refused(ResponseType.QUOTA_EXCEEDED)

    async def _integrate(
        self,
        request: GatewayRequest,
        match: Match,
        headers: Mapping[str, list[str]],
        query: Mapping[str, list[str]],
        variables: dict[str, str],
        context: dict[str, Any],
    ) -> GatewayAnswer:
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
            return await self._lambda_proxy(request, match, headers, query, variables, context)
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
        if integration.type is IntegrationType.MOCK:
            answer = _mock_answer(body)
        elif integration.type is IntegrationType.AWS:
            answer = await self._backends.aws(call, str(context["requestId"]))
        else:
            answer = await self._backends.http(call)
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
        return self._integration_response(
            answer, integration, template_data, sources, headers, variables, context
        )

    def _integration_response(
        self,
        answer: IntegrationAnswer,
        integration: Any,
        template_data: RequestData,
        sources: Sources,
        headers: Mapping[str, list[str]],
        variables: dict[str, str],
        context: dict[str, Any],
    ) -> GatewayAnswer:
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

    async def _lambda_proxy(
        self,
        request: GatewayRequest,
        match: Match,
        headers: Mapping[str, list[str]],
        query: Mapping[str, list[str]],
        variables: dict[str, str],
        context: dict[str, Any],
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
        answer = await self._backends.aws(call, str(context["requestId"]))
        if answer.error_message is not None:
            raise Refused(ResponseType.DEFAULT_5XX, "Internal server error", status=502)
        try:
            parsed = parse_proxy_response(orjson.loads(answer.body))
        except (MalformedProxyResponse, orjson.JSONDecodeError):
            logger.warning(
                "Execution failed due to configuration error: Malformed Lambda proxy response"
            )
            return _plain(502, {"message": "Internal server error"}, None)
        return GatewayAnswer(status=parsed.status, headers=dict(parsed.headers), body=parsed.body)

    def _refusal(
        self,
        deployed: DeployedApi,
        refused: Refused,
        headers: Mapping[str, list[str]],
        query: Mapping[str, list[str]],
        match: Match | None,
        variables: Mapping[str, str],
        context: Mapping[str, Any],
    ) -> GatewayAnswer:
        response = deployed.responses.resolve(refused.response_type)
        forced = refused.error.pop("status", None)
        error_context = {**context, "error": dict(refused.error)}
        data = RequestData(
            body=b"",
            path=match.path_parameters if match else {},
            querystring={name: values[0] for name, values in query.items()},
            multi_querystring=query,
            headers={name: values[-1] for name, values in headers.items()},
        )

        def template(text: str, render_context: Mapping[str, Any]) -> str:
            return render(
                text, request=data, context=render_context, stage_variables=variables
            ).text

        status, out_headers, body = render_error(
            response,
            message=refused.message,
            request_headers={name: values[-1] for name, values in headers.items()},
            query={name: values[-1] for name, values in query.items()},
            path=dict(match.path_parameters) if match else {},
            stage_variables=variables,
            context=error_context,
            render_template=template,
        )
        return GatewayAnswer(status=int(forced or status), headers=out_headers, body=body)


def _multi(pairs: Sequence[tuple[str, str]], *, lower: bool = False) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        found.setdefault(name.lower() if lower else name, []).append(value)
    return found


def _plain(status: int, body: Mapping[str, Any], request_id: str | None) -> GatewayAnswer:
    headers = {"Content-Type": "application/json"}
    if request_id is not None:
        headers["x-amzn-RequestId"] = request_id
    return GatewayAnswer(status=status, headers=headers, body=orjson.dumps(body))


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


def _limit(settings: Mapping[str, Any]) -> Limit | None:
    rate = settings.get("throttlingRateLimit")
    burst = settings.get("throttlingBurstLimit")
    if rate is None and burst is None:
        return None
    rate_value = float(rate) if rate is not None else ACCOUNT_LIMIT.rate
    if rate_value <= 0:
        return Limit(rate=1e-9, burst=0)
    return Limit(rate=rate_value, burst=int(burst) if burst is not None else ACCOUNT_LIMIT.burst)


def _plan_throttle(
    document: Mapping[str, Any], stage: Mapping[str, Any], match: Match, http_method: str
) -> Limit | None:
    per_method = (stage.get("throttle") or {}).get(f"{match.resource.path}/{http_method.upper()}")
    chosen = per_method or document.get("throttle")
    if not chosen:
        return None
    rate, burst = chosen.get("rateLimit"), chosen.get("burstLimit")
    if rate is None:
        return None
    if float(rate) <= 0:
        return Limit(rate=1e-9, burst=0)
    return Limit(rate=float(rate), burst=int(burst or 0))


def _quota(document: Mapping[str, Any]) -> Quota | None:
    quota = document.get("quota")
    if not quota:
        return None
    return Quota(
        limit=int(quota["limit"]),
        period=Period(quota["period"]),
        offset=int(quota.get("offset", 0)),
    )


def _cache_settings(stage: DeployedStage, settings: Mapping[str, Any]) -> CacheSettings | None:
    if not stage.document.get("cacheClusterEnabled") or not settings.get("cachingEnabled"):
        return None
    cache = CacheSettings(enabled=True, ttl_s=int(settings.get("cacheTtlInSeconds", 300)))
    return cache if cache.is_active else None
