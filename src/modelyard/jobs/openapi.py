"""The jobs area's part of the OpenAPI document: create a job, follow it, fetch results.

Error answers list the statuses of ``routes.ERROR_STATUS``, the table the routes render
with, so a change of the table changes the document.
"""

from __future__ import annotations

from modelyard.jobs import routes
from modelyard.jobs.service import JobStatus
from modelyard.openapi import JsonObject, OpenApiPart, json_content

__all__ = ["part"]

_TAG = "jobs"
_TEXT: JsonObject = {"type": "string"}
_KINDS = {
    400: "The request is invalid: the body, a field (named in the message), a category no "
    "endpoint serves, or a query parameter.",
    401: "No management token was given (one is set).",
    403: "The management token is not valid.",
    404: "No job has that id.",
    413: "The job's data is over the size limit.",
    503: "The database or the object store failed.",
}


def _ref(name: str) -> JsonObject:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> dict[str, JsonObject]:
    known = set(routes.ERROR_STATUS.values())
    for status in statuses:
        if status not in known:
            raise ValueError(f"status {status} is not in routes.ERROR_STATUS")
    return {
        str(status): {
            "description": _KINDS[status],
            "content": json_content(_ref("JobsError")),
        }
        for status in statuses
    }


_COMMON = (401, 403, 503)
_JOB_ID: JsonObject = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
}


def _schemas() -> dict[str, JsonObject]:
    error_object: JsonObject = {
        "type": "object",
        "required": ["type", "message"],
        "properties": {"type": _TEXT, "message": _TEXT},
    }
    return {
        "JobsError": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {"error": _TEXT, "message": _TEXT},
        },
        "JobsCreateRequest": {
            "type": "object",
            "required": ["categories"],
            "properties": {
                "data": {
                    "description": "What each endpoint receives: a string as is, any "
                    "other JSON value as its JSON text."
                },
                "data_url": {"type": "string", "description": "s3://BUCKET/KEY of the data."},
                "content_type": {"type": "string", "default": "application/json"},
                "categories": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        "JobsCreated": {
            "type": "object",
            "required": ["job_id"],
            "properties": {"job_id": _TEXT},
        },
        "JobsResult": {
            "type": "object",
            "required": ["endpoint", "category", "status"],
            "properties": {
                "endpoint": _TEXT,
                "category": _TEXT,
                "status": {"type": "string", "enum": ["SUCCEEDED", "FAILED"]},
                "content_type": {"type": ["string", "null"]},
                "output": {"description": "Parsed JSON when the answer is JSON, else text."},
                "error": error_object,
                "duration_ms": {"type": ["number", "null"]},
            },
        },
        "JobsJob": {
            "type": "object",
            "required": ["job_id", "status", "categories", "created_at", "finished_at"],
            "properties": {
                "job_id": _TEXT,
                "status": {"type": "string", "enum": [status.value for status in JobStatus]},
                "categories": {"type": "array", "items": _TEXT},
                "created_at": {"type": "string", "format": "date-time"},
                "finished_at": {"type": ["string", "null"], "format": "date-time"},
                "execution_arn": _TEXT,
                "results": {"type": "array", "items": _ref("JobsResult")},
            },
        },
        "JobsPage": {
            "type": "object",
            "required": ["jobs", "next_token"],
            "properties": {
                "jobs": {"type": "array", "items": _ref("JobsJob")},
                "next_token": {"type": ["string", "null"]},
            },
        },
    }


def part() -> OpenApiPart:
    """``/create-job``, ``/get-job-results``, ``/jobs`` and ``/jobs/{job_id}``."""
    job = {"description": "The job.", "content": json_content(_ref("JobsJob"))}
    return OpenApiPart(
        paths={
            "/create-job": {
                "post": {
                    "tags": [_TAG],
                    "operationId": "jobsCreate",
                    "summary": "Create a job: its data goes to every endpoint of its categories.",
                    "parameters": [
                        {
                            "name": "categories",
                            "in": "query",
                            "required": False,
                            "description": "Comma-separated categories: the body is then "
                            "the raw data, of the request's Content-Type.",
                            "schema": _TEXT,
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            **json_content(_ref("JobsCreateRequest")),
                            "application/octet-stream": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "The job is created and started.",
                            "content": json_content(_ref("JobsCreated")),
                        },
                        **_errors(400, 413, *_COMMON),
                    },
                }
            },
            "/get-job-results": {
                "get": {
                    "tags": [_TAG],
                    "operationId": "jobsGetResults",
                    "summary": "A job's status and, once it has ended, its results.",
                    "parameters": [
                        {"name": "job_id", "in": "query", "required": True, "schema": _TEXT}
                    ],
                    "responses": {"200": job, **_errors(400, 404, *_COMMON)},
                }
            },
            "/jobs": {
                "get": {
                    "tags": [_TAG],
                    "operationId": "jobsList",
                    "summary": "Jobs, newest first.",
                    "parameters": [
                        {
                            "name": "max_results",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": routes.MAX_RESULTS,
                            },
                        },
                        {"name": "next_token", "in": "query", "required": False, "schema": _TEXT},
                    ],
                    "responses": {
                        "200": {
                            "description": "A page.",
                            "content": json_content(_ref("JobsPage")),
                        },
                        **_errors(400, *_COMMON),
                    },
                }
            },
            "/jobs/{job_id}": {
                "get": {
                    "tags": [_TAG],
                    "operationId": "jobsGet",
                    "summary": "A job's status and, once it has ended, its results.",
                    "parameters": [_JOB_ID],
                    "responses": {"200": job, **_errors(404, *_COMMON)},
                },
                "delete": {
                    "tags": [_TAG],
                    "operationId": "jobsCancel",
                    "summary": "Cancel a job: it ends CANCELLED.",
                    "parameters": [_JOB_ID],
                    "responses": {
                        "202": {
                            "description": "The job, being cancelled.",
                            "content": json_content(_ref("JobsJob")),
                        },
                        **_errors(404, *_COMMON),
                    },
                },
            },
        },
        components={"schemas": _schemas()},
        tags=[{"name": _TAG, "description": "Jobs: fan data out to the endpoints of categories."}],
    )
