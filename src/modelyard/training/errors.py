"""Domain errors of the training area (no HTTP in them).

    ModelyardError
     ├── InvalidRequest
     │    └── InvalidTrainingJob      a CreateTrainingJob the area cannot run (ValidationException)
     ├── TrainingJobNotFound          no training job of that name (ValidationException)
     ├── TrainingJobExists            the name is taken (ResourceInUse)
     └── TrainingJobFinished          the job has ended: it cannot be stopped (ValidationException)

``training.control`` maps them to SageMaker's codes, once.
"""

from __future__ import annotations

from modelyard.errors import InvalidRequest, ModelyardError

__all__ = ["InvalidTrainingJob", "TrainingJobExists", "TrainingJobFinished", "TrainingJobNotFound"]


class InvalidTrainingJob(InvalidRequest):
    """The training job cannot run as asked."""


class TrainingJobNotFound(ModelyardError):
    """Requested resource not found."""


class TrainingJobExists(ModelyardError):
    """Training job names must be unique within an AWS account and region."""


class TrainingJobFinished(ModelyardError):
    """The training job has ended."""
