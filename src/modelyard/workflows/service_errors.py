"""The errors of the Step Functions API's resources: state machines, executions, tags.

    ModelyardError
     ├── InvalidRequest
     │    ├── InvalidArn                     not a Step Functions ARN, or of the wrong kind
     │    ├── InvalidName                    a name Step Functions does not allow
     │    ├── InvalidExecutionInput          an execution input that is not JSON
     │    └── MissingRequiredParameter       UpdateStateMachine with nothing to update
     ├── StateMachineDoesNotExist
     ├── StateMachineAlreadyExists           the name is taken by another definition
     ├── StateMachineDeleting                DeleteStateMachine was called
     ├── StateMachineTypeNotSupported        an operation of the other type (EXPRESS/STANDARD)
     ├── ExecutionDoesNotExist
     ├── ExecutionAlreadyExists              the name is taken (and not by this same start)
     ├── ExecutionNotRedrivable              see its message for why
     ├── ExecutionLimitExceeded              too many executions running
     ├── ResourceNotFound                    nothing to tag (or no such Map Run)
     └── TooManyTags                         a resource may have 50 tags

(``InvalidDefinition``, for definitions, is in :mod:`modelyard.workflows.errors`.) The
codes are the error names of the API; ``workflows.control`` maps each to its code once.
"""

from __future__ import annotations

from modelyard.errors import InvalidRequest, ModelyardError

__all__ = [
    "ExecutionAlreadyExists",
    "ExecutionDoesNotExist",
    "ExecutionLimitExceeded",
    "ExecutionNotRedrivable",
    "InvalidArn",
    "InvalidExecutionInput",
    "InvalidName",
    "MissingRequiredParameter",
    "ResourceNotFound",
    "StateMachineAlreadyExists",
    "StateMachineDeleting",
    "StateMachineDoesNotExist",
    "StateMachineTypeNotSupported",
    "TooManyTags",
]


class InvalidArn(InvalidRequest):
    """The ARN is not valid."""


class InvalidName(InvalidRequest):
    """The name is not valid."""


class InvalidExecutionInput(InvalidRequest):
    """The execution input is not valid JSON."""


class MissingRequiredParameter(InvalidRequest):
    """A required parameter is missing."""


class StateMachineDoesNotExist(ModelyardError):
    """The state machine does not exist."""


class StateMachineAlreadyExists(ModelyardError):
    """A state machine of that name already exists."""


class StateMachineDeleting(ModelyardError):
    """The state machine is being deleted."""


class StateMachineTypeNotSupported(ModelyardError):
    """This operation is not supported by this type of state machine."""


class ExecutionDoesNotExist(ModelyardError):
    """The execution does not exist."""


class ExecutionAlreadyExists(ModelyardError):
    """An execution of that name already exists."""


class ExecutionNotRedrivable(ModelyardError):
    """The execution cannot be redriven."""


class ExecutionLimitExceeded(ModelyardError):
    """The maximum number of running executions has been reached."""


class ResourceNotFound(ModelyardError):
    """Resource not found."""


class TooManyTags(ModelyardError):
    """The resource would have more tags than allowed."""
