"""The jobs API over HTTP: create a job, follow it, fetch its results, cancel it.

::

    POST   /create-job                 {"data" | "data_url", "content_type", "categories"}
                                       or raw data with ?categories=a,b   → 202 {"job_id"}
    GET    /get-job-results?job_id=ID  → the job, its status and results
    GET    /jobs/{id}                  → the same
    GET    /jobs?max_results=N&next_token=T → {"jobs": [...], "next_token"}
    DELETE /jobs/{id}                  → 202; the job ends CANCELLED

Errors are ``{"error": <type>, "message": ...}`` with the status of :data:`ERROR_STATUS`:
a body the API cannot use is 400 naming the field, an unknown job 404 whatever the
method. Who calls is the ``guard``'s answer (``identity/access.py``): with auth on, a
user pool's token; each user sees and cancels only their own jobs, an ``admin`` all.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.errors import (
    AccessDenied,
    AuthenticationRequired,
    InvalidRequest,
    ModelyardError,
    ObjectNotFound,
    PayloadTooLarge,
)
from modelyard.identity.access import EVERYONE, Caller
from modelyard.jobs.service import JobNotFound, JobService, UnknownCategory
from modelyard.serving.protocols.body import read_body
from modelyard.storage.objectstore import ObjectStore

__all__ = ["ERROR_STATUS", "MAX_DATA_BYTES", "routes"]

#: The largest job data accepted in a request (the data is stored, not held in states).
MAX_DATA_BYTES = 64 * 2**20
#: Jobs per page at most.
MAX_RESULTS = 100

#: Status of each error the routes answer with (the first matching class wins).
ERROR_STATUS: dict[type[ModelyardError], int] = {
    JobNotFound: 404,
    PayloadTooLarge: 413,
    UnknownCategory: 400,
    InvalidRequest: 400,
    AuthenticationRequired: 401,
    AccessDenied: 403,
    ModelyardError: 503,
}

Handler = Callable[[Request, Caller], Awaitable[Response]]
Guard = Callable[[Request], Awaitable[Caller]]


async def _everyone(request: Request) -> Caller:
    return EVERYONE


def routes(jobs: JobService, store: ObjectStore, guard: Guard = _everyone) -> list[Route]:
    """The jobs routes, bound to ``jobs``; ``guard`` says who calls (default: anyone, as
    an administrator)."""

    def handled(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request, await guard(request))
            except ModelyardError as exc:
                return _error(exc)

        return endpoint

    async def create(request: Request, caller: Caller) -> Response:
        body = await read_body(request, MAX_DATA_BYTES)
        if "categories" in request.query_params:
            categories = [c for c in request.query_params["categories"].split(",") if c.strip()]
            if not categories:
                raise InvalidRequest("categories: name at least one category")
            content_type = request.headers.get("content-type") or "application/octet-stream"
            data = body
        else:
            data, content_type, categories = await _fields(body, store)
        job = await jobs.create(
            data=data, content_type=content_type, categories=categories, owner=caller.username
        )
        return _json({"job_id": job.id}, 202)

    async def results(request: Request, caller: Caller) -> Response:
        job_id = request.query_params.get("job_id")
        if not job_id:
            raise InvalidRequest("job_id: the query parameter is required")
        return _json((await jobs.get(job_id, owner=caller.username, admin=caller.admin)).to_json())

    async def one(request: Request, caller: Caller) -> Response:
        job_id = request.path_params["job_id"]
        owner, admin = caller.username, caller.admin
        if request.method == "DELETE":
            await jobs.cancel(job_id, owner=owner, admin=admin)
            view = await jobs.get(job_id, owner=owner, admin=admin)
            return _json(view.to_json(with_results=False), 202)
        return _json((await jobs.get(job_id, owner=owner, admin=admin)).to_json())

    async def listing(request: Request, caller: Caller) -> Response:
        limit = _max_results(request.query_params.get("max_results"))
        after = _token(request.query_params.get("next_token"))
        views, following = await jobs.list(
            owner=caller.username, admin=caller.admin, limit=limit, after=after
        )
        return _json(
            {
                "jobs": [view.to_json(with_results=False) for view in views],
                "next_token": None if following is None else _encode(following),
            }
        )

    return [
        Route("/create-job", handled(create), methods=["POST"]),
        Route("/get-job-results", handled(results), methods=["GET"]),
        Route("/jobs", handled(listing), methods=["GET"]),
        Route("/jobs/{job_id}", handled(one), methods=["GET", "DELETE"]),
    ]


async def _fields(body: bytes, store: ObjectStore) -> tuple[bytes, str, list[str]]:
    """``data`` (or the object at ``data_url``), ``content_type`` and ``categories``."""
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            'body: not JSON; send {"data", "content_type", "categories"}, or raw data '
            "with ?categories=a,b"
        ) from None
    if not isinstance(fields, dict):
        raise InvalidRequest("body: must be a JSON object")
    unknown = set(fields) - {"data", "data_url", "content_type", "categories"}
    if unknown:
        raise InvalidRequest(f"{sorted(unknown)[0]}: not a field of a job")
    categories = fields.get("categories")
    if not isinstance(categories, list) or not categories:
        raise InvalidRequest("categories: must be a non-empty list of strings")
    if not all(isinstance(c, str) and c.strip() for c in categories):
        raise InvalidRequest("categories: must be a non-empty list of strings")
    content_type = fields.get("content_type", "application/json")
    if not isinstance(content_type, str) or not content_type.strip():
        raise InvalidRequest("content_type: must be a non-empty string")
    if ("data" in fields) == ("data_url" in fields):
        raise InvalidRequest("data: give exactly one of data and data_url")
    if "data" in fields:
        value = fields["data"]
        data = value.encode() if isinstance(value, str) else orjson.dumps(value)
    else:
        data = await _read_url(fields["data_url"], store)
    return data, content_type, categories


async def _read_url(url: Any, store: ObjectStore) -> bytes:
    if not isinstance(url, str) or not url.startswith("s3://") or len(url) <= len("s3://"):
        raise InvalidRequest("data_url: must be an s3://BUCKET/KEY URL of the object store")
    try:
        return await asyncio.to_thread(store.get, url.removeprefix("s3://"))
    except ObjectNotFound:
        raise InvalidRequest(f"data_url: no object at {url}") from None
    except ModelyardError as exc:
        raise InvalidRequest(f"data_url: {exc.message}") from None


def _max_results(value: str | None) -> int:
    if value is None:
        return 50
    if not value.isdigit() or not 1 <= int(value) <= MAX_RESULTS:
        raise InvalidRequest(f"max_results: must be an integer from 1 to {MAX_RESULTS}")
    return int(value)


def _encode(position: tuple[datetime, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([position[0].isoformat(), position[1]])).decode()


def _token(value: str | None) -> tuple[datetime, str] | None:
    if not value:
        return None
    try:
        moment, job_id = orjson.loads(base64.urlsafe_b64decode(value.encode()))
        return datetime.fromisoformat(moment), str(job_id)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise InvalidRequest("next_token: not a token this API gave") from None


def _error(exc: ModelyardError) -> Response:
    status = next(code for kind, code in ERROR_STATUS.items() if isinstance(exc, kind))
    response = _json({"error": type(exc).__name__, "message": exc.message}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="modelyard"'
    return response


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type="application/json")
