"""Serving a deployed REST API: one request through API Gateway's steps.

stage (and canary) → resource and method → authorizer → API key and usage plan →
request validation → throttling (account, stage, method, key) and quota → response
cache → integration (request mapping, the backend, integration response mapping) → the
method's answer. A refusal at any step is answered with its gateway response (the API's
customised one, else API Gateway's default), rendered by its template. Every answer
carries ``x-amzn-RequestId``, and is written to the access log
(:mod:`~modelyard.gateway.access_log`) in its stage's format, with that request id.

This module takes a request through the steps up to the integration; the integration
step is :mod:`~modelyard.gateway.runtime_integration`, a refusal and its answer
:mod:`~modelyard.gateway.refusals`, the request and the answer
:mod:`~modelyard.gateway.messages` (``Refused``, ``GatewayRequest`` and ``GatewayAnswer``
are importable from here too).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

from modelyard.errors import ModelyardError
from modelyard.gateway.access_log import AccessEntry, AccessLog
from modelyard.gateway.authorizers import Authorized, Authorizers, RequestFacts, api_key_of
from modelyard.gateway.cache import (
    CachedResponse,
    CacheSettings,
    ResponseCache,
    UnauthorizedStrategy,
    cache_key,
    decide_cache_control,
)
from modelyard.gateway.definitions import Method, RestApi
from modelyard.gateway.deployed import DeployedApi, DeployedStage, StageLoader, deployed_api
from modelyard.gateway.integrations import Backends
from modelyard.gateway.keys import KeyOperations
from modelyard.gateway.messages import GatewayAnswer, GatewayRequest, json_answer
from modelyard.gateway.quotas import Period, Quota, QuotaCounters
from modelyard.gateway.refusals import Refused, render_refusal
from modelyard.gateway.responses import ResponseType
from modelyard.gateway.routing import Match
from modelyard.gateway.runtime_integration import IntegrationStep
from modelyard.gateway.stages import method_setting
from modelyard.gateway.throttling import Limit, TokenBuckets
from modelyard.gateway.validation import RequestShape, Validator, check_request
from modelyard.identity.bootstrap import ADMIN_GROUP
from modelyard.ids import uuid4_string

__all__ = ["GatewayAnswer", "GatewayRequest", "GatewayRuntime", "Refused"]

logger = logging.getLogger(__name__)

#: API Gateway's account-level throttle (per region): 10,000 requests/s, burst 5,000.
ACCOUNT_LIMIT: Final = Limit(rate=10_000.0, burst=5_000)


class GatewayRuntime:
    """Serves deployed APIs (see the module).

    ``access_log_path``: the file the access log is appended to; None for the logger
    ``modelyard.gateway.access`` alone.
    """

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
        access_log_path: Path | None = None,
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
        self._integration = IntegrationStep(backends=backends, account_id=account_id, domain=domain)
        self._access_log = AccessLog(access_log_path)

    async def start(self) -> None:
        """Start the access log's writer."""
        await self._access_log.start()

    async def stop(self) -> None:
        """Write the access log's last lines; close the backends' connections."""
        await self._access_log.stop()
        await self._backends.close()

    async def test_invoke(
        self,
        api: RestApi,
        http_method: str,
        path_with_query: str,
        *,
        headers: Mapping[str, str],
        body: bytes,
        stage_variables: Mapping[str, str],
    ) -> GatewayAnswer:
        """TestInvokeMethod: ``api`` as it is now (not deployed) answers one request, as
        the console's test does: without authorizers, API keys, throttling or cache."""
        path, _, query = path_with_query.partition("?")
        stage = DeployedStage(
            api_id=api.id,
            name="test-invoke-stage",
            main=deployed_api(api, "test-invoke"),
            canary=None,
            canary_settings=None,
            variables=dict(stage_variables),
            document={},
        )
        request = GatewayRequest(
            api_id=api.id,
            stage=stage.name,
            path="/" + path.lstrip("/"),
            http_method=http_method,
            headers=list(headers.items()),
            query=parse_qsl(query, keep_blank_values=True),
            body=body,
        )
        return await self.handle(request, stage=stage)

    async def handle(
        self, request: GatewayRequest, *, stage: DeployedStage | None = None
    ) -> GatewayAnswer:
        """The answer to ``request``; never raises for what a request can do.

        ``stage``: the stage to serve it with instead of the one its URL names, for
        TestInvokeMethod (which skips authorization, keys, throttling and the cache).
        """
        request_id = uuid4_string()
        started = time.time()
        clock = time.perf_counter()
        headers = _multi(request.headers, lower=True)
        query = _multi(request.query)
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
        }
        testing = stage is not None
        if stage is None:
            stage = await self._stages.load(request.api_id, request.stage)
        if stage is None:
            answer = json_answer(403, {"message": "Forbidden"}, request_id)
            self._log(None, context, {}, answer, clock)
            return answer
        canary = self._random.random() * 100 < (
            stage.canary_settings.percent_traffic if stage.canary_settings else 0.0
        )
        context["isCanaryRequest"] = canary
        deployed = stage.canary if canary and stage.canary is not None else stage.main
        variables = dict(stage.variables)
        if canary and stage.canary_settings is not None:
            variables.update(stage.canary_settings.stage_variable_overrides)
        match = deployed.routes.match(request.http_method, request.path)
        # What the integration did, for the access log's $context.integration (kept out
        # of the context, which every template render copies).
        integration_facts: dict[str, Any] = {}
        try:
            if match is None:
                raise Refused(ResponseType.MISSING_AUTHENTICATION_TOKEN)
            context.update(resourceId=match.resource.id, resourcePath=match.resource.path)
            answer = await self._serve(
                request,
                stage,
                deployed,
                match,
                headers,
                query,
                variables,
                context,
                testing,
                integration_facts,
            )
        except Refused as refused:
            answer = render_refusal(deployed, refused, headers, query, match, variables, context)
            _note_error(context, refused)
        except ModelyardError as exc:
            # The authorizers' and integrations' errors name their gateway response and
            # what the caller may be told; anything else is a 5xx of the gateway.
            kind = getattr(exc, "response_type", None)
            if kind is None:
                logger.warning("gateway %s %s: %s", request.http_method, request.path, exc.message)
            told = getattr(exc, "public_message", "Internal server error")
            refusal = Refused(ResponseType(kind or "DEFAULT_5XX"), told)
            answer = render_refusal(deployed, refusal, headers, query, match, variables, context)
            _note_error(context, refusal)
        except Exception:  # a bug of ours: the caller still gets API Gateway's answer
            logger.exception("gateway %s %s failed", request.http_method, request.path)
            refusal = Refused(ResponseType.DEFAULT_5XX, "Internal server error")
            answer = render_refusal(deployed, refusal, headers, query, match, variables, context)
            _note_error(context, refusal)
        answer.headers["x-amzn-RequestId"] = request_id
        if not testing:  # TestInvokeMethod writes no access log, as in API Gateway
            self._log(
                stage.document.get("accessLogSettings"), context, integration_facts, answer, clock
            )
        return answer

    def _log(
        self,
        settings: Any,
        context: Mapping[str, Any],
        integration: Mapping[str, Any],
        answer: GatewayAnswer,
        clock: float,
    ) -> None:
        """Record the answer in the access log, in the format of the stage's ``settings``
        (``accessLogSettings``, if any); nothing is built when the log is not recording."""
        if not self._access_log.recording:
            return
        if not isinstance(settings, Mapping):
            settings = {}
        self._access_log.record(
            AccessEntry(
                format=settings.get("format"),
                destination=settings.get("destinationArn"),
                context=context,
                integration=integration,
                status=answer.status,
                response_length=len(answer.body),
                latency_ms=int((time.perf_counter() - clock) * 1000),
            )
        )

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
        testing: bool = False,
        integration_facts: dict[str, Any] | None = None,
    ) -> GatewayAnswer:
        method = match.method
        api = deployed.api
        if testing:
            validator = api.request_validators.get(method.request_validator_id or "")
            if validator is not None:
                self._validate(method, deployed, validator, request, match, headers, query)
            return await self._integration.integrate(
                request, match, headers, query, variables, context
            )
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
        extra: dict[str, str] = {}
        if cache_settings is not None and request.http_method.upper() == "GET":
            # Cache-Control: max-age=0 refreshes the entry for callers allowed to: those
            # signed in as administrators (API Gateway's execute-api:InvalidateCache).
            decision = decide_cache_control(
                cache_settings,
                request_headers={name: values[-1] for name, values in headers.items()},
                may_invalidate=ADMIN_GROUP in authorized.groups,
            )
            if decision.refuse:
                raise Refused(ResponseType.ACCESS_DENIED, "Forbidden")
            extra = dict(decision.extra_headers)
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
            cached = None if decision.bypass else self._cache.get(key)
            if cached is not None:
                return GatewayAnswer(
                    status=cached.status,
                    headers={**dict(cached.headers), **extra},
                    body=cached.body,
                )
        answer = await self._integration.integrate(
            request, match, headers, query, variables, context, integration_facts
        )
        if key is not None and cache_settings is not None:
            self._cache.put(
                key,
                CachedResponse(
                    status=answer.status, headers=tuple(answer.headers.items()), body=answer.body
                ),
                cache_settings.ttl_s,
            )
        answer.headers.update(extra)
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
        key, plans = await self._keys.key_and_plans(value)
        if key is None or not key.enabled:
            raise Refused(ResponseType.INVALID_API_KEY)
        limits: list[tuple[str, Limit | None, Quota | None]] = []
        for plan in plans:
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


def _note_error(context: dict[str, Any], refused: Refused) -> None:
    """``$context.error`` of a refused request, for the access log."""
    context["error"] = {
        "message": refused.message,
        "messageString": json.dumps(refused.message, ensure_ascii=False),
        "responseType": refused.response_type.value,
    }


def _multi(pairs: Sequence[tuple[str, str]], *, lower: bool = False) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        found.setdefault(name.lower() if lower else name, []).append(value)
    return found


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
    strategy = settings.get("unauthorizedCacheControlHeaderStrategy")
    cache = CacheSettings(
        enabled=True,
        ttl_s=int(settings.get("cacheTtlInSeconds", 300)),
        require_authorization=bool(settings.get("requireAuthorizationForCacheControl", True)),
        unauthorized_strategy=(
            UnauthorizedStrategy(strategy)
            if strategy
            else UnauthorizedStrategy.SUCCEED_WITH_RESPONSE_HEADER
        ),
    )
    return cache if cache.is_active else None
