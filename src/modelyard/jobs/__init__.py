"""Jobs: send data to every endpoint of some categories, gather what each answered.

:class:`JobService` is the area's facade (``platform.py`` builds it over the workflows
and endpoints areas); ``routes`` is the jobs API over HTTP, ``tasks`` the two Task
resources of the shipped ``multi_model_inference`` state machine.
"""

from __future__ import annotations

from modelyard.jobs.service import (
    MACHINE_NAME,
    JobNotFound,
    JobResult,
    JobService,
    JobStatus,
    JobView,
    UnknownCategory,
)

__all__ = [
    "MACHINE_NAME",
    "JobNotFound",
    "JobResult",
    "JobService",
    "JobStatus",
    "JobView",
    "UnknownCategory",
]
