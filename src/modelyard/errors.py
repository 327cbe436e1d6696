"""The domain errors of modelyard: one root, subclasses named for what happened.

    ModelyardError
     ├── InvalidRequest                  the caller sent something we cannot use
     │    ├── PayloadMalformed            body does not parse as its content type says
     │    ├── UnsupportedContentType      no codec for the request's content type
     │    ├── NotAcceptable               no codec for the requested Accept type
     │    ├── PayloadTooLarge             body over the configured limit
     │    ├── InvalidModelName            a model name no contract allows
     │    └── InvalidModelArtifact        the URL names something that is not a model artifact
     ├── AuthenticationRequired          no valid credentials for a protected operation
     ├── AccessDenied                    the caller may not do this
     │    └── ModelUrlNotAllowed          the model URL is outside the allowed locations
     ├── ModelNotFound                   no model of that name (or its artifact is missing)
     ├── ModelAlreadyExists              the name is taken by another model
     │    ├── ModelAlreadyLoaded          a load was asked for a model already loaded
     │    └── RegistrationExists          a model of that name is already registered
     ├── ModelLoadFailed                 the handler raised while loading
     ├── ModelTooLarge                   the model alone does not fit the memory budget
     ├── InferenceFailed                 the handler raised while predicting
     ├── ModelNotResident                the model is not (or no longer) in its worker
     │    └── RequestNotStarted           its worker stopped before starting it: send again
     ├── WorkerCrashed                   the worker process hosting the model died
     ├── ModelQuarantined                the model crashed its worker repeatedly; retry later
     ├── InferenceTimeout                the model did not answer within the timeout
     ├── ObjectNotFound                  no object or folder at that key in the object store
     ├── InvalidObjectKey                the key has empty or '..' parts, or leaves the root
     ├── ObjectStoreError                the object store failed (I/O, permissions, network)
     └── DatabaseError                   the database failed (connection, query, migration)

Domain errors carry no HTTP status: each protocol maps them once (see
``modelyard.serving.protocols``). The class docstring is the default message.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuthenticationRequired",
    "DatabaseError",
    "InferenceFailed",
    "InferenceTimeout",
    "InvalidModelArtifact",
    "InvalidModelName",
    "InvalidObjectKey",
    "InvalidRequest",
    "ModelAlreadyExists",
    "ModelAlreadyLoaded",
    "ModelLoadFailed",
    "ModelNotFound",
    "ModelNotResident",
    "ModelQuarantined",
    "ModelTooLarge",
    "ModelUrlNotAllowed",
    "ModelyardError",
    "NotAcceptable",
    "ObjectNotFound",
    "ObjectStoreError",
    "PayloadMalformed",
    "PayloadTooLarge",
    "RegistrationExists",
    "RequestNotStarted",
    "UnsupportedContentType",
    "WorkerCrashed",
    "error_class",
]


class ModelyardError(Exception):
    """Something went wrong in modelyard."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class InvalidRequest(ModelyardError):
    """The request is invalid."""


class PayloadMalformed(InvalidRequest):
    """The request body could not be parsed."""


class UnsupportedContentType(InvalidRequest):
    """The request's content type is not supported."""


class NotAcceptable(InvalidRequest):
    """None of the accepted response types is supported."""


class PayloadTooLarge(InvalidRequest):
    """The request body is larger than the configured limit."""


class InvalidModelName(InvalidRequest):
    """The model name is not valid."""


class InvalidModelArtifact(InvalidRequest):
    """The model URL does not name a model artifact (a folder or a .tar.gz archive)."""


class AuthenticationRequired(ModelyardError):
    """This operation needs valid credentials."""


class AccessDenied(ModelyardError):
    """The caller is not allowed to do this."""


class ModelUrlNotAllowed(AccessDenied):
    """Models may not be loaded from that location."""


class ModelNotFound(ModelyardError):
    """The model was not found."""


class ModelAlreadyExists(ModelyardError):
    """A model of that name already exists."""


class ModelAlreadyLoaded(ModelAlreadyExists):
    """The model is already loaded."""


class ModelLoadFailed(ModelyardError):
    """The model failed to load."""


class ModelTooLarge(ModelyardError):
    """The model does not fit in the memory budget."""


class InferenceFailed(ModelyardError):
    """The model failed to produce a prediction."""


class ModelNotResident(ModelyardError):
    """The model is not loaded in its worker process (it was evicted meanwhile)."""


class RequestNotStarted(ModelNotResident):
    """The worker process stopped before the request started; it may be sent again."""


class WorkerCrashed(ModelyardError):
    """The worker process hosting the model died."""


class ModelQuarantined(ModelyardError):
    """The model crashed its worker process repeatedly and is quarantined for a while."""

    def __init__(self, message: str | None = None, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        #: Seconds until the quarantine ends (the answer's ``Retry-After``).
        self.retry_after_s = retry_after_s


class InferenceTimeout(ModelyardError):
    """The model did not answer in time."""


class RegistrationExists(ModelAlreadyExists):
    """A model of that name is already registered."""


class ObjectNotFound(ModelyardError):
    """No object was found at that key in the object store."""


class InvalidObjectKey(ModelyardError):
    """The object key is not a relative '/'-separated path inside the store."""


class ObjectStoreError(ModelyardError):
    """The object store failed to carry out the operation."""


class DatabaseError(ModelyardError):
    """The database failed to carry out the operation."""


def error_class(name: str) -> type[ModelyardError]:
    """Return the error class called ``name``, for errors sent back by worker processes."""
    found = globals().get(name)
    if isinstance(found, type) and issubclass(found, ModelyardError):
        return found
    return ModelyardError
