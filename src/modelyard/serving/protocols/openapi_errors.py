"""Error answers of the model server's OpenAPI part, derived from the status table.

An operation names the domain errors it can raise; their statuses come from
``errors.ERROR_STATUS`` (the table the renderers use), and each status lists its error
classes in the body's ``type`` (SageMaker/MMS shape) and in the ``x-modelyard-error-type``
header, so a change of the table changes the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from modelyard import errors
from modelyard.errors import ModelyardError
from modelyard.openapi import JsonObject, json_content
from modelyard.serving.protocols.errors import ERROR_STATUS, ERROR_TYPE_HEADER

__all__ = ["ErrorClasses", "sagemaker_errors", "v2_errors"]

#: The domain errors an operation can answer with.
ErrorClasses = Sequence[type[ModelyardError]]


def _status_of(error: type[ModelyardError]) -> int:
    # As ``errors.status_for`` does for an instance: the nearest class in the table.
    for cls in error.__mro__:
        status = ERROR_STATUS.get(cls)
        if status is not None:
            return status
    return 500


def _by_status(classes: ErrorClasses) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for cls in classes:
        names = grouped.setdefault(_status_of(cls), [])
        if cls.__name__ not in names:
            names.append(cls.__name__)
    return dict(sorted(grouped.items()))


def _explain(names: list[str]) -> str:
    lines = []
    for name in names:
        doc = (getattr(errors, name).__doc__ or "").strip().splitlines()[0]
        lines.append(f"- `{name}`: {doc}")
    return "\n".join(lines)


def _headers(names: list[str], *, sagemaker: bool) -> JsonObject:
    kinds = {"type": "string", "enum": names}
    headers: JsonObject = {
        ERROR_TYPE_HEADER: {
            "description": "The domain error's class, whatever the body's shape.",
            "required": True,
            "schema": kinds,
        }
    }
    if sagemaker:
        headers["x-amzn-errortype"] = {
            "description": "The error's type, as SageMaker sends it.",
            "required": True,
            "schema": kinds,
        }
    if "ModelQuarantined" in names:
        headers["retry-after"] = {
            "description": "Seconds until a quarantined model is tried again.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    if "AuthenticationRequired" in names:
        headers["www-authenticate"] = {
            "description": "`Bearer`: the management token is needed.",
            "schema": {"type": "string"},
        }
    return headers


def sagemaker_errors(classes: ErrorClasses) -> dict[str, JsonObject]:
    """SageMaker/MMS error answers: ``{"code", "type", "message"}`` and ``x-amzn-errortype``."""
    answers = {}
    for status, names in _by_status(classes).items():
        body = {
            "allOf": [
                {"$ref": "#/components/schemas/SageMakerError"},
                {
                    "type": "object",
                    "properties": {"code": {"const": status}, "type": {"enum": names}},
                },
            ]
        }
        answers[str(status)] = {
            "description": f"{HTTPStatus(status).phrase}:\n{_explain(names)}",
            "headers": _headers(names, sagemaker=True),
            "content": json_content(body),
        }
    return answers


def v2_errors(classes: ErrorClasses) -> dict[str, JsonObject]:
    """KServe V2 error answers: ``{"error": message}``."""
    return {
        str(status): {
            "description": f"{HTTPStatus(status).phrase}:\n{_explain(names)}",
            "headers": _headers(names, sagemaker=False),
            "content": json_content({"$ref": "#/components/schemas/V2Error"}),
        }
        for status, names in _by_status(classes).items()
    }
