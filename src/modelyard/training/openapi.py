"""The training area's part of the OpenAPI document: ``GET /training-jobs/{name}/logs``.

The SageMaker training operations are documented with the other AWS JSON operations, on
``POST /`` (``aws/openapi.py``). Error answers list the statuses of
``routes.ERROR_STATUS``, the table the route renders with, so a change of the table
changes the document.
"""

from __future__ import annotations

from modelyard.openapi import JsonObject, OpenApiPart, json_content
from modelyard.training import routes

__all__ = ["part"]

_TAG = "training"
_TEXT: JsonObject = {"type": "string"}
_KINDS = {
    400: "The offset is not a whole number of bytes.",
    401: "No bearer token was given (one is needed).",
    403: "The token is not valid, or not an administrator's.",
    404: "No training job has that name.",
    503: "The database failed.",
}


def _errors(*statuses: int) -> dict[str, JsonObject]:
    known = set(routes.ERROR_STATUS.values())
    for status in statuses:
        if status not in known:
            raise ValueError(f"status {status} is not in routes.ERROR_STATUS")
    return {
        str(status): {
            "description": _KINDS[status],
            "content": json_content({"$ref": "#/components/schemas/TrainingError"}),
        }
        for status in statuses
    }


def part() -> OpenApiPart:
    """``GET /training-jobs/{name}/logs``."""
    return OpenApiPart(
        paths={
            routes.LOG_PATH: {
                "get": {
                    "tags": [_TAG],
                    "operationId": "trainingJobLogs",
                    "summary": "A piece of a training job's log, from a byte offset.",
                    "description": (
                        "The job's stdout and stderr, as its process writes them. Ask again "
                        "from next_offset for what was written since; a job whose log does "
                        f"not exist yet answers empty text. At most {routes.MAX_LOG_CHUNK} "
                        "bytes are read per request."
                    ),
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "description": "The training job's name (TrainingJobName).",
                            "schema": {"type": "string", "minLength": 1},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "required": False,
                            "description": "Where to start reading, in bytes.",
                            "schema": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": routes.MAX_OFFSET,
                                "default": 0,
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The log's text from the offset.",
                            "content": json_content(
                                {"$ref": "#/components/schemas/TrainingLogPiece"},
                                {
                                    "name": "churn",
                                    "text": "epoch=1 loss=0.52\n",
                                    "offset": 0,
                                    "next_offset": 18,
                                },
                            ),
                        },
                        **_errors(400, 401, 403, 404, 503),
                    },
                }
            }
        },
        components={
            "schemas": {
                "TrainingLogPiece": {
                    "type": "object",
                    "required": ["name", "text", "offset", "next_offset"],
                    "properties": {
                        "name": _TEXT,
                        "text": _TEXT,
                        "offset": {"type": "integer", "minimum": 0},
                        "next_offset": {"type": "integer", "minimum": 0},
                    },
                },
                "TrainingError": {
                    "type": "object",
                    "required": ["code", "type", "message"],
                    "properties": {"code": {"type": "integer"}, "type": _TEXT, "message": _TEXT},
                },
            }
        },
        tags=[{"name": _TAG, "description": "Training jobs: their logs."}],
    )
