"""JobService: create a job, fan it out to every endpoint of its categories, gather results.

A job is one execution of the shipped ``multi_model_inference`` state machine
(``multi_model_inference.asl.json``): its data goes to the object store
(``jobs/{job_id}/input``), the job row and the execution's first event are committed in
one transaction, and the workflows runner does the rest. Each endpoint's answer lands at
``results/{job_id}/{endpoint}.json``, the summary at ``results/{job_id}/summary.json``.

A job's status is its execution's, read when asked:

    execution RUNNING                  RUNNING
    SUCCEEDED, every endpoint answered SUCCEEDED
    SUCCEEDED, some endpoints failed   PARTIAL (the others' results kept)
    SUCCEEDED, every endpoint failed   FAILED
    FAILED or TIMED_OUT                FAILED
    ABORTED (DELETE /jobs/{id})        CANCELLED
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy import Connection

from modelyard.errors import InvalidRequest, ModelyardError, ObjectNotFound
from modelyard.jobs.tasks import SERVING, CategoryRegistry, object_key
from modelyard.storage.database import Database
from modelyard.storage.executions import Execution, ExecutionStatus
from modelyard.storage.jobs import Job, Jobs
from modelyard.storage.objectstore import ObjectStore, put_object

__all__ = [
    "MACHINE_NAME",
    "JobNotFound",
    "JobResult",
    "JobService",
    "JobStatus",
    "JobView",
    "JobWorkflows",
    "UnknownCategory",
    "machine_definition",
]

T = TypeVar("T")

#: The state machine every job runs.
MACHINE_NAME = "multi_model_inference"
#: Content types whose answers are given back parsed.
_JSON_TYPES = ("application/json", "application/jsonlines", "text/json")


class JobNotFound(ModelyardError):
    """No job has that id (or it is not the caller's)."""


class UnknownCategory(InvalidRequest):
    """No endpoint serves a category the job asks for."""


class JobStatus(enum.StrEnum):
    """Where a job is."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, kw_only=True, slots=True)
class JobResult:
    """What one endpoint made of a job's data."""

    #: The endpoint.
    endpoint: str
    #: The category it was reached by.
    category: str
    #: ``SUCCEEDED`` or ``FAILED``.
    status: str
    #: The answer's content type (succeeded results).
    content_type: str | None = None
    #: The answer: parsed JSON when it is JSON, else its text.
    output: Any = None
    #: ``{"type", "message"}`` of a failure.
    error: dict[str, str] | None = None
    #: How long the endpoint took, in milliseconds.
    duration_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The result as the jobs API answers it."""
        out: dict[str, Any] = {
            "endpoint": self.endpoint,
            "category": self.category,
            "status": self.status,
        }
        if self.status == "SUCCEEDED":
            out.update(
                content_type=self.content_type, output=self.output, duration_ms=self.duration_ms
            )
        else:
            out["error"] = self.error
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class JobView:
    """A job and what it has come to."""

    #: The job.
    job: Job
    #: Its status.
    status: JobStatus
    #: When it ended.
    finished_at: datetime | None
    #: One result per endpoint, once it has ended.
    results: tuple[JobResult, ...] = ()

    def to_json(self, *, with_results: bool = True) -> dict[str, Any]:
        """The job as the jobs API answers it."""
        out: dict[str, Any] = {
            "job_id": self.job.id,
            "owner": self.job.owner,
            "status": self.status.value,
            "categories": list(self.job.categories),
            "created_at": _iso(self.job.created_at),
            "finished_at": _iso(self.finished_at) if self.finished_at else None,
            "execution_arn": self.job.execution_arn,
        }
        if with_results:
            out["results"] = [result.to_json() for result in self.results]
        return out


class JobWorkflows(Protocol):
    """What the jobs need of the workflows area."""

    async def ensure_state_machine(self, name: str, definition: str) -> str:
        """The ARN of state machine ``name``, created or updated to ``definition``."""
        ...

    async def start_execution(
        self,
        state_machine_arn: str,
        *,
        name: str,
        input: str,
        also: Callable[[Connection], None] | None = None,
    ) -> tuple[str, datetime]:
        """Start an execution; ``also`` runs in the transaction that records it."""
        ...

    async def execution(self, arn: str) -> tuple[Execution, bool]:
        """The execution ``arn`` names, and whether a runner has taken it up yet."""
        ...

    async def stop_execution(
        self, arn: str, *, error: str | None = None, cause: str | None = None
    ) -> datetime:
        """Stop (abort) the execution."""
        ...


def machine_definition() -> str:
    """The ASL of ``multi_model_inference``, as shipped."""
    return resources.files("modelyard.jobs").joinpath("multi_model_inference.asl.json").read_text()


class JobService:
    """The jobs area's facade (see the module)."""

    def __init__(
        self,
        *,
        database: Database,
        store: ObjectStore,
        workflows: JobWorkflows,
        registry: CategoryRegistry,
    ) -> None:
        self._jobs = Jobs(database)
        self._store = store
        self._workflows = workflows
        self._registry = registry
        self._machine_arn: str | None = None

    async def start(self) -> None:
        """Make sure the jobs state machine exists, as shipped."""
        self._machine_arn = await self._workflows.ensure_state_machine(
            MACHINE_NAME, machine_definition()
        )

    async def stop(self) -> None:
        """Nothing to stop: jobs run as executions of the workflows area."""

    async def create(
        self,
        *,
        data: bytes,
        content_type: str,
        categories: Sequence[str],
        owner: str | None = None,
    ) -> Job:
        """Create a job on ``data`` for ``categories``; it starts at once.

        Raises :class:`UnknownCategory` naming a category no endpoint serves.
        """
        wanted = _categories(categories)
        await self._check_categories(wanted)
        if self._machine_arn is None:
            await self.start()
        assert self._machine_arn is not None
        job_id = str(uuid.uuid4())
        input_key = f"jobs/{job_id}/input"
        await put_object(self._store, input_key, data)
        execution_input = orjson.dumps(
            {
                "job_id": job_id,
                "categories": list(wanted),
                "input_location": f"s3://{input_key}",
                "content_type": content_type,
            }
        ).decode()
        created = datetime.now(UTC)
        arn_box: list[Job] = []

        def record(connection: Connection, arn: str) -> None:
            job = Job(
                id=job_id,
                owner=owner,
                categories=wanted,
                content_type=content_type,
                input_key=input_key,
                execution_arn=arn,
                created_at=created,
            )
            Jobs.insert_on(connection, job)
            arn_box.append(job)

        arn = self._execution_arn(job_id)
        await self._workflows.start_execution(
            self._machine_arn,
            name=job_id,
            input=execution_input,
            also=lambda connection: record(connection, arn),
        )
        return arn_box[0]

    async def get(self, job_id: str, *, owner: str | None = None, admin: bool = True) -> JobView:
        """The job ``job_id`` and what it has come to; :class:`JobNotFound` if none (or
        not ``owner``'s, unless ``admin``)."""
        job = await self._job(job_id, owner=owner, admin=admin)
        return await self._view(job, with_results=True)

    async def list(
        self,
        *,
        owner: str | None = None,
        admin: bool = True,
        limit: int = 50,
        after: tuple[datetime, str] | None = None,
    ) -> tuple[list[JobView], tuple[datetime, str] | None]:
        """Jobs, newest first; and where the next page starts (``None`` on the last)."""
        found, more = await asyncio.to_thread(
            self._jobs.list, owner=owner, everyone=admin, after=after, limit=limit
        )
        views = [await self._view(job, with_results=False) for job in found]
        following = (found[-1].created_at, found[-1].id) if more and found else None
        return views, following

    async def cancel(self, job_id: str, *, owner: str | None = None, admin: bool = True) -> None:
        """Cancel the job: its execution is aborted and the job ends CANCELLED."""
        job = await self._job(job_id, owner=owner, admin=admin)
        await self._workflows.stop_execution(
            job.execution_arn, error="Job.Cancelled", cause="The job was cancelled."
        )

    # -- helpers ------------------------------------------------------------------------

    async def _job(self, job_id: str, *, owner: str | None, admin: bool) -> Job:
        job = await asyncio.to_thread(self._jobs.get, job_id)
        if job is None or (not admin and job.owner != owner):
            raise JobNotFound(f"no job {job_id!r}")
        return job

    async def _check_categories(self, wanted: Sequence[str]) -> None:
        """:class:`UnknownCategory` for a category no endpoint serves now (an endpoint
        still being created does not count: the job would not reach it)."""
        serving: set[str] = set()
        coming: set[str] = set()
        for endpoint, categories in await self._registry.categorized_endpoints():
            folded = {category.casefold() for category in categories}
            (serving if endpoint.status in SERVING else coming).update(folded)
        for category in wanted:
            if category.casefold() not in serving:
                later = (
                    " yet (its endpoints are not in service)"
                    if category.casefold() in coming
                    else ""
                )
                raise UnknownCategory(f"no endpoint serves the category {category!r}{later}")

    def _execution_arn(self, job_id: str) -> str:
        assert self._machine_arn is not None
        prefix, _, machine = self._machine_arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{job_id}"

    async def _view(self, job: Job, *, with_results: bool) -> JobView:
        execution, taken = await self._workflows.execution(job.execution_arn)
        results: tuple[JobResult, ...] = ()
        if execution.status is ExecutionStatus.SUCCEEDED and execution.output:
            entries = orjson.loads(execution.output)
            if with_results:
                results = tuple(await asyncio.to_thread(self._results, entries))
            status = _status_of(entries)
        elif execution.status is ExecutionStatus.RUNNING:
            status = JobStatus.RUNNING if taken else JobStatus.QUEUED
        elif execution.status is ExecutionStatus.ABORTED:
            status = JobStatus.CANCELLED
        else:
            status = JobStatus.FAILED
        return JobView(job=job, status=status, finished_at=execution.stop_date, results=results)

    def _results(self, entries: builtins.list[dict[str, Any]]) -> builtins.list[JobResult]:
        results = []
        for entry in entries:
            if entry.get("status") == "SUCCEEDED":
                content_type = entry.get("content_type") or ""
                try:
                    body = self._store.get(object_key(entry["location"]))
                except ObjectNotFound:
                    body = b""
                results.append(
                    JobResult(
                        endpoint=entry["endpoint"],
                        category=entry["category"],
                        status="SUCCEEDED",
                        content_type=content_type,
                        output=_output(body, content_type),
                        duration_ms=entry.get("duration_ms"),
                    )
                )
            else:
                error = entry.get("error") or {}
                results.append(
                    JobResult(
                        endpoint=entry["endpoint"],
                        category=entry["category"],
                        status="FAILED",
                        error={
                            "type": str(error.get("type", "")),
                            "message": str(error.get("message", "")),
                        },
                    )
                )
        return results


def _categories(categories: Sequence[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for category in categories:
        if not isinstance(category, str) or not category.strip():
            raise InvalidRequest("categories must be non-empty strings")
        if category.strip() not in cleaned:
            cleaned.append(category.strip())
    if not cleaned:
        raise InvalidRequest("categories must name at least one category")
    return tuple(cleaned)


def _status_of(entries: list[dict[str, Any]]) -> JobStatus:
    failed = sum(1 for entry in entries if entry.get("status") != "SUCCEEDED")
    if not entries:
        return JobStatus.FAILED  # no endpoint was reached: nothing answered
    if failed == 0:
        return JobStatus.SUCCEEDED
    return JobStatus.FAILED if failed == len(entries) else JobStatus.PARTIAL


def _output(body: bytes, content_type: str) -> Any:
    text = body.decode(errors="replace")
    if content_type.split(";")[0].strip().lower() in _JSON_TYPES:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return text
    return text


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
