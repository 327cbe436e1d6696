"""Component schemas of the model server's OpenAPI part: bodies of its routes.

The V2 schemas follow the Open Inference Protocol's ``open_inference_rest.yaml``, widened
where the binary tensor data extension (``data`` may be absent) and non-finite outputs
(written as ``null``) need it, and narrowed to what the server accepts (datatypes, shapes).
The others describe what ``entries.ModelEntry.describe``, ``DataPlane.stats`` and the
SageMaker routes answer.
"""

from __future__ import annotations

from modelyard.openapi import JsonObject
from modelyard.serving.codecs.v2_tensors import DATATYPES

__all__ = ["schema_ref", "schemas"]


def schema_ref(name: str) -> JsonObject:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _integer(description: str) -> JsonObject:
    return {"type": "integer", "minimum": 0, "description": description}


def _nullable(kind: str, description: str) -> JsonObject:
    return {"type": [kind, "null"], "description": description}


def _object(properties: dict[str, JsonObject], *optional: str) -> JsonObject:
    return {
        "type": "object",
        "properties": properties,
        "required": [key for key in properties if key not in optional],
    }


_STRING: JsonObject = {"type": "string"}
_PARAMETERS: JsonObject = {"type": "object", "description": "Free-form parameters."}


def _sagemaker_schemas() -> dict[str, JsonObject]:
    return {
        "SageMakerError": _object(
            {
                "code": {"type": "integer", "description": "The HTTP status."},
                "type": {"type": "string", "description": "The domain error's class."},
                "message": {"type": "string", "description": "What went wrong."},
            }
        ),
        "LoadModelRequest": _object(
            {
                "model_name": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Name to serve it under.",
                },
                "url": {
                    "type": "string",
                    "minLength": 1,
                    "description": "A folder or `.tar.gz` archive: a path, `file://`, or an "
                    "fsspec URL within `allowed_model_urls`.",
                },
            }
        ),
        "ModelDescription": _object(
            {
                "modelName": _STRING,
                "modelUrl": _STRING,
                "state": {"enum": ["loading", "ready", "failed", "quarantined"]},
                "memoryBytes": _integer("Memory the load added to its worker."),
                "replicas": _integer("Workers serving it (0 unless ready)."),
                "loadSeconds": {"type": "number", "description": "The handler's own load."},
                "totalLoadSeconds": {"type": "number", "description": "Fetch and IPC included."},
                "loadedAt": _nullable("number", "When it became ready (epoch seconds)."),
                "lastUsedSecondsAgo": _nullable("number", "Since the last request."),
                "pinned": {"type": "boolean", "description": "Never evicted."},
                "worker": _nullable("integer", "Index of the worker hosting it."),
                "workers": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "description": "Indexes of the workers hosting it.",
                },
                "error": _nullable("string", "The load error, when failed."),
                "errorType": _nullable("string", "The load error's class."),
                "retryAfterSeconds": _nullable("number", "Until a quarantine ends."),
            },
            "replicas",
            "workers",
        ),
        "ModelList": _object(
            {
                "models": {
                    "type": "array",
                    "items": _object({"modelName": _STRING, "modelUrl": _STRING}),
                },
                "nextPageToken": {
                    "type": "string",
                    "description": "Present when there are more models.",
                },
            },
            "nextPageToken",
        ),
        "StatusMessage": _object({"status": _STRING}),
    }


def _v2_schemas() -> dict[str, JsonObject]:
    datatype: JsonObject = {"enum": list(DATATYPES)}
    return {
        "V2Error": _object({"error": _STRING}),
        "V2Live": _object({"live": {"type": "boolean"}}),
        "V2Ready": _object({"ready": {"type": "boolean"}}),
        "V2ServerMetadata": _object(
            {"name": _STRING, "version": _STRING, "extensions": {"type": "array", "items": _STRING}}
        ),
        "V2MetadataTensor": _object(
            {
                "name": _STRING,
                "datatype": _STRING,
                "shape": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "description": "`-1` for a dimension of any size.",
                },
            }
        ),
        "V2ModelMetadata": _object(
            {
                "name": _STRING,
                "versions": {"type": "array", "items": _STRING},
                "platform": _STRING,
                "inputs": {"type": "array", "items": schema_ref("V2MetadataTensor")},
                "outputs": {"type": "array", "items": schema_ref("V2MetadataTensor")},
            },
            "versions",
            "inputs",
            "outputs",
        ),
        "V2ModelReady": _object({"name": _STRING, "ready": {"type": "boolean"}}),
        "V2TensorData": {
            "type": "array",
            "description": "Flat or nested (row-major) elements; `BYTES` are strings.",
            "items": {
                "anyOf": [
                    schema_ref("V2TensorData"),
                    {"type": "number"},
                    {"type": "string"},
                    {"type": "boolean"},
                ]
            },
        },
        "V2RequestInput": _object(
            {
                "name": _STRING,
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "datatype": datatype,
                "parameters": _PARAMETERS,
                "data": schema_ref("V2TensorData"),
            },
            "parameters",
            # With ``parameters.binary_data_size``, the data follows the JSON part.
            "data",
        ),
        "V2RequestOutput": _object(
            {
                "name": _STRING,
                "parameters": {
                    "type": "object",
                    "description": "`binary_data`: send this output as binary data.",
                },
            },
            "parameters",
        ),
        "V2InferenceRequest": _object(
            {
                "id": _STRING,
                "parameters": {
                    "type": "object",
                    "description": "`binary_data_output`: send every output as binary data.",
                },
                "inputs": {"type": "array", "items": schema_ref("V2RequestInput")},
                "outputs": {"type": "array", "items": schema_ref("V2RequestOutput")},
            },
            "id",
            "parameters",
            "outputs",
        ),
        "V2ResponseOutput": _object(
            {
                "name": _STRING,
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "datatype": datatype,
                "parameters": _PARAMETERS,
                "data": {
                    "type": "array",
                    "description": "Flat; a non-finite float is `null`. Absent when the "
                    "output is sent as binary data (`parameters.binary_data_size`).",
                    "items": {"type": ["number", "string", "boolean", "null"]},
                },
            },
            "parameters",
            "data",
        ),
        "V2InferenceResponse": _object(
            {
                "model_name": _STRING,
                "model_version": _STRING,
                "id": _STRING,
                "parameters": _PARAMETERS,
                "outputs": {"type": "array", "items": schema_ref("V2ResponseOutput")},
            },
            "model_version",
            "id",
            "parameters",
        ),
        "V2RepositoryModel": _object(
            {
                "name": _STRING,
                "version": _STRING,
                "state": {"enum": ["READY", "LOADING", "UNAVAILABLE"]},
                "reason": _STRING,
            }
        ),
    }


def _admin_schemas() -> dict[str, JsonObject]:
    worker = _object(
        {
            "index": _integer("Worker slot."),
            "pid": _nullable("integer", "Process id, while it runs."),
            "alive": {"type": "boolean"},
            "rss_bytes": _integer("Resident set size."),
            "pss_bytes": _integer("Proportional set size."),
            "models": {"type": "array", "items": _STRING},
        }
    )
    quarantined = _object(
        {
            "modelName": _STRING,
            "retryAfterSeconds": {"type": "number"},
            "crashes": _integer("Crashes it caused."),
            "timesQuarantined": _integer("Quarantines so far."),
        }
    )
    return {
        "Stats": _object(
            {
                "memory_budget_bytes": _integer("Budget of resident models."),
                "used_bytes": _integer("Measured memory of resident models."),
                "loaded": _integer("Models ready."),
                "loading": _integer("Loads under way."),
                "loads": _integer("Loads since start."),
                "evictions": _integer("Evictions since start."),
                "worker_restarts": _integer("Workers replaced since start."),
                "workers": {"type": "array", "items": worker},
                "quarantined": {"type": "array", "items": quarantined},
                "memory_pss_bytes": _integer("PSS summed over every process of the server."),
            }
        )
    }


def schemas() -> dict[str, JsonObject]:
    """Every component schema of the model server's part, by name."""
    return {**_sagemaker_schemas(), **_v2_schemas(), **_admin_schemas()}
