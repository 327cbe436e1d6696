"""The model server's part of the OpenAPI document: every route of ``serving/routes.py``.

Paths are listed in the order of ``sagemaker.py``, ``kserve.py`` and ``admin.py`` (each in
the order of its public contract), so the three can be read side by side. Each operation
names the domain errors it can raise, and ``openapi_errors`` turns them into answers by
the status table; the bodies' schemas are in ``openapi_schemas``.
"""

from __future__ import annotations

from modelyard import errors
from modelyard.openapi import JsonObject, OpenApiPart, json_content
from modelyard.serving.protocols.openapi_errors import ErrorClasses, sagemaker_errors, v2_errors
from modelyard.serving.protocols.openapi_schemas import schema_ref, schemas

__all__ = ["part"]

_SAGEMAKER = "sagemaker"
_MMS = "mms"
_V2 = "kserve-v2"
_ADMIN = "admin"

#: Content types the SageMaker and MMS invocation routes decode (others reach user code).
_INVOCATION_TYPES: dict[str, JsonObject] = {
    "application/json": {"schema": {}, "example": [[5.1, 3.5, 1.4, 0.2]]},
    "text/csv": {"schema": {"type": "string"}, "example": "5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5"},
    "text/x-libsvm": {"schema": {"type": "string"}, "example": "0 1:5.1 2:3.5 3:1.4 4:0.2"},
    "application/x-recordio-protobuf": {"schema": {"type": "string", "format": "binary"}},
}

# -- errors each operation can answer -------------------------------------------------------

#: Reading the body (a bad Content-Length, or past ``max_payload_bytes``).
_BODY: ErrorClasses = (errors.PayloadMalformed, errors.PayloadTooLarge)
#: Finding a model by name: the store, the registrations (in the database for ``up``).
_LOOKUP: ErrorClasses = (
    errors.InvalidModelName,
    errors.ModelNotFound,
    errors.ObjectStoreError,
    errors.DatabaseError,
)
#: Loading a model into a worker (a request for a model not resident loads it first).
_LOAD: ErrorClasses = (
    *_LOOKUP,
    errors.InvalidModelArtifact,
    errors.ModelUrlNotAllowed,
    errors.ModelLoadFailed,
    errors.ModelTooLarge,
    errors.RequestNotStarted,
    errors.WorkerCrashed,
    errors.ModelQuarantined,
    errors.InferenceTimeout,
)
#: Running a request in the model's worker: decoding, the model's code, encoding.
_RUN: ErrorClasses = (
    *_LOAD,
    errors.InvalidRequest,
    errors.PayloadMalformed,
    errors.UnsupportedContentType,
    errors.NotAcceptable,
    errors.PayloadTooLarge,
    errors.InferenceFailed,
    errors.ModelNotResident,
)
#: Management routes when a token is set (``protocols/auth.py``).
_AUTH: ErrorClasses = (errors.AuthenticationRequired, errors.AccessDenied)


def _ok(description: str, schema: JsonObject, example: object = None) -> dict[str, JsonObject]:
    return {"200": {"description": description, "content": json_content(schema, example)}}


def _name_parameter(description: str = "The model's name.") -> JsonObject:
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "description": description + " A name holding `/` cannot be addressed in a path.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^[^/]+$"},
    }


_VERSION_PARAMETER: JsonObject = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "Accepted and ignored: a model has one version, `1`.",
    "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
}

_MANAGEMENT: list[JsonObject] = [{"managementToken": []}, {}]


def _invoke_operation(
    operation_id: str, summary: str, tag: str, lookup: ErrorClasses, parameters: list[JsonObject]
) -> JsonObject:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "parameters": parameters,
        "requestBody": {
            "description": "The model's input, decoded by its content type (JSON when none "
            "is given); a user-code model may take any other type.",
            "content": _INVOCATION_TYPES,
        },
        "responses": {
            "200": {
                "description": "The model's answer, in the type the `Accept` header asked "
                "for or the one the model chose.",
                "content": {"*/*": {"schema": {}}},
            },
            **sagemaker_errors((*lookup, *_BODY, *_RUN)),
        },
    }


def _sagemaker_paths() -> dict[str, JsonObject]:
    name = _name_parameter()
    list_parameters = [
        {
            "name": "max_results",
            "in": "query",
            "description": "Page size (default 100).",
            "schema": {"type": "integer", "minimum": 1},
        },
        {
            "name": "next_page_token",
            "in": "query",
            "description": "`nextPageToken` of the previous page.",
            "schema": {"type": "string"},
        },
    ]
    target = {
        "name": "X-Amzn-SageMaker-Target-Model",
        "in": "header",
        "description": "The model to invoke, as the artifact's path under the endpoint's "
        "prefix (`model-a.tar.gz` is served as `model-a`). Optional when the server hosts "
        "exactly one model.",
        "schema": {"type": "string"},
    }
    return {
        "/models": {
            "post": {
                "operationId": "loadModel",
                "summary": "Register a model by URL and load it (SageMaker LoadModel)",
                "tags": [_SAGEMAKER],
                "security": _MANAGEMENT,
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        schema_ref("LoadModelRequest"),
                        {"model_name": "iris", "url": "/opt/ml/iris"},
                    ),
                },
                "responses": {
                    **_ok("Loaded.", schema_ref("ModelDescription")),
                    **sagemaker_errors(
                        (
                            *_AUTH,
                            *_BODY,
                            *_LOAD,
                            errors.ModelAlreadyExists,
                            errors.ModelAlreadyLoaded,
                            errors.RegistrationExists,
                        )
                    ),
                },
            },
            "get": {
                "operationId": "listModels",
                "summary": "Models the cache holds (SageMaker ListModels)",
                "tags": [_SAGEMAKER],
                "parameters": list_parameters,
                "responses": {
                    **_ok("One page of models, by name.", schema_ref("ModelList")),
                    **sagemaker_errors((errors.InvalidRequest,)),
                },
            },
        },
        "/models/{name}": {
            "parameters": [name],
            "get": {
                "operationId": "describeModel",
                "summary": "State of a model the cache holds (SageMaker GetModel)",
                "tags": [_SAGEMAKER],
                "responses": {
                    **_ok("The model's state and measurements.", schema_ref("ModelDescription")),
                    **sagemaker_errors((errors.InvalidModelName, errors.ModelNotFound)),
                },
            },
            "delete": {
                "operationId": "unloadModel",
                "summary": "Unload a model; a registered one is forgotten (SageMaker UnloadModel)",
                "tags": [_SAGEMAKER],
                "security": _MANAGEMENT,
                "responses": {
                    **_ok("Unloaded.", schema_ref("StatusMessage")),
                    **sagemaker_errors(
                        (
                            *_AUTH,
                            errors.InvalidModelName,
                            errors.ModelNotFound,
                            errors.DatabaseError,
                            errors.WorkerCrashed,
                            errors.InferenceTimeout,
                        )
                    ),
                },
            },
        },
        "/models/{name}/invoke": {
            "post": _invoke_operation(
                "invokeModel", "Invoke a model (SageMaker InvokeModel)", _SAGEMAKER, (), [name]
            ),
        },
        "/ping": {
            "get": {
                "operationId": "ping",
                "summary": "Health check of the hosting contract",
                "tags": [_SAGEMAKER],
                "responses": _ok(
                    "The server is up.",
                    {
                        "type": "object",
                        "properties": {"status": {"const": "Healthy"}},
                        "required": ["status"],
                    },
                ),
            }
        },
        "/invocations": {
            "post": _invoke_operation(
                "invocations",
                "Invoke the model the target header names (SageMaker multi-model endpoint)",
                _SAGEMAKER,
                (errors.InvalidRequest,),
                [target],
            )
        },
        "/predictions/{name}": {
            "post": _invoke_operation(
                "predictions", "Invoke a model (Multi Model Server inference API)", _MMS, (), [name]
            )
        },
        "/predictions/{name}/{version}": {
            "post": _invoke_operation(
                "predictionsVersion",
                "Invoke a model; the version is ignored (Multi Model Server inference API)",
                _MMS,
                (),
                [name, _VERSION_PARAMETER],
            )
        },
    }


def _v2_model_operations(suffix: str, parameters: list[JsonObject]) -> dict[str, JsonObject]:
    return {
        "": {
            "parameters": parameters,
            "get": {
                "operationId": f"modelMetadata{suffix}",
                "summary": "Model metadata (loads the model if needed)",
                "tags": [_V2],
                "responses": {
                    **_ok("The model's metadata.", schema_ref("V2ModelMetadata")),
                    **v2_errors(_LOAD),
                },
            },
        },
        "/ready": {
            "parameters": parameters,
            "get": {
                "operationId": f"modelReady{suffix}",
                "summary": "Whether a model is loaded and serving",
                "tags": [_V2],
                "responses": {
                    **_ok("Ready.", schema_ref("V2ModelReady")),
                    **v2_errors(_LOOKUP),
                    "400": {
                        "description": "Not ready (the spec: a 4xx status means not ready), "
                        "or `InvalidModelName`: the model name is not valid.",
                        "content": json_content(
                            {"anyOf": [schema_ref("V2ModelReady"), schema_ref("V2Error")]}
                        ),
                    },
                },
            },
        },
        "/infer": {
            "parameters": parameters,
            "post": {
                "operationId": f"modelInfer{suffix}",
                "summary": "Inference",
                "tags": [_V2],
                "parameters": [
                    {
                        "name": "Inference-Header-Content-Length",
                        "in": "header",
                        "description": "Binary tensor data extension: the length of the "
                        "JSON part of an `application/octet-stream` body.",
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        **json_content(
                            schema_ref("V2InferenceRequest"),
                            {
                                "inputs": [
                                    {
                                        "name": "x",
                                        "shape": [1, 4],
                                        "datatype": "FP64",
                                        "data": [6.3, 3.3, 6.0, 2.5],
                                    }
                                ]
                            },
                        ),
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"},
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "The outputs; with binary outputs, the JSON part "
                        "comes first and its length is in `Inference-Header-Content-Length`.",
                        "headers": {
                            "Inference-Header-Content-Length": {
                                "description": "Length of the JSON part of a binary answer.",
                                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                            }
                        },
                        "content": {
                            **json_content(schema_ref("V2InferenceResponse")),
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                        },
                    },
                    **v2_errors((*_BODY, *_RUN)),
                },
            },
        },
    }


def _v2_paths() -> dict[str, JsonObject]:
    name = _name_parameter()
    paths: dict[str, JsonObject] = {
        "/v2/health/live": {
            "get": {
                "operationId": "serverLive",
                "summary": "Server live",
                "tags": [_V2],
                "responses": _ok("Live.", schema_ref("V2Live")),
            }
        },
        "/v2/health/ready": {
            "get": {
                "operationId": "serverReady",
                "summary": "Server ready: a worker is up to serve models",
                "tags": [_V2],
                "responses": {
                    **_ok("Ready.", schema_ref("V2Ready")),
                    "503": {
                        "description": "Not ready: no worker process is running.",
                        "content": json_content(schema_ref("V2Ready")),
                    },
                },
            }
        },
        "/v2": {
            "get": {
                "operationId": "serverMetadata",
                "summary": "Server metadata",
                "tags": [_V2],
                "responses": _ok("Name, version, extensions.", schema_ref("V2ServerMetadata")),
            }
        },
    }
    for prefix, suffix, parameters in (
        ("/v2/models/{name}", "", [name]),
        ("/v2/models/{name}/versions/{version}", "Version", [name, _VERSION_PARAMETER]),
    ):
        for tail, item in _v2_model_operations(suffix, parameters).items():
            paths[prefix + tail] = item
    repository_body = {
        "description": "Options; an empty body is an empty object.",
        "content": json_content({"type": "object"}),
    }
    empty = _ok("Done.", {"type": "object", "maxProperties": 0})
    paths |= {
        "/v2/repository/index": {
            "post": {
                "operationId": "repositoryIndex",
                "summary": "Every model of the repository and its state (Triton)",
                "tags": [_V2],
                "requestBody": {
                    "description": "`ready`: list only the models ready to serve.",
                    "content": json_content(
                        {"type": "object", "properties": {"ready": {"type": "boolean"}}}
                    ),
                },
                "responses": {
                    **_ok(
                        "Models and states.",
                        {"type": "array", "items": schema_ref("V2RepositoryModel")},
                    ),
                    **v2_errors((*_BODY, errors.ObjectStoreError, errors.DatabaseError)),
                },
            }
        },
        "/v2/repository/models/{name}/load": {
            "parameters": [name],
            "post": {
                "operationId": "repositoryLoad",
                "summary": "Load a model (a no-op when it is loaded)",
                "tags": [_V2],
                "security": _MANAGEMENT,
                "requestBody": repository_body,
                "responses": {**empty, **v2_errors((*_AUTH, *_BODY, *_LOAD))},
            },
        },
        "/v2/repository/models/{name}/unload": {
            "parameters": [name],
            "post": {
                "operationId": "repositoryUnload",
                "summary": "Unload a model (a no-op when it is not loaded)",
                "tags": [_V2],
                "security": _MANAGEMENT,
                "requestBody": repository_body,
                "responses": {
                    **empty,
                    **v2_errors(
                        (*_AUTH, *_BODY, *_LOOKUP, errors.WorkerCrashed, errors.InferenceTimeout)
                    ),
                },
            },
        },
    }
    return paths


def _admin_paths() -> dict[str, JsonObject]:
    return {
        "/stats": {
            "get": {
                "operationId": "stats",
                "summary": "Memory budget and use, loads, evictions, workers, quarantine",
                "tags": [_ADMIN],
                "responses": _ok("Figures of the cache and the workers.", schema_ref("Stats")),
            }
        }
    }


def part() -> OpenApiPart:
    """The model server's routes: SageMaker container and MMS, KServe V2, ``/stats``."""
    return OpenApiPart(
        paths={**_sagemaker_paths(), **_v2_paths(), **_admin_paths()},
        components={
            "schemas": schemas(),
            "securitySchemes": {
                "managementToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The server's management token "
                    "(`MODELYARD_SERVING__MANAGEMENT_TOKEN`). Needed when one is set, "
                    "which it is when the server listens beyond loopback.",
                }
            },
        },
        tags=[
            {"name": _SAGEMAKER, "description": "SageMaker multi-model container contract."},
            {"name": _MMS, "description": "Multi Model Server inference API."},
            {"name": _V2, "description": "Open Inference Protocol (KServe V2) over REST."},
            {"name": _ADMIN, "description": "modelyard's own operator routes."},
        ],
    )
