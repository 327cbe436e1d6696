"""Map Runs: what a distributed Map state started, named, counted and reported.

A Map Run is the set of child executions one attempt of a distributed Map state starts::

    arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>        the Map Run
    arn:aws:states:<region>:<account>:stateMachine:<machine>/<label>       its children's machine
    arn:aws:states:<region>:<account>:execution:<machine>/<label>:<name>   a STANDARD child
    arn:aws:states:<region>:<account>:express:<machine>/<label>:<name>:<id> an EXPRESS child

The label is the state's ``Label``, else its name (a name unfit for an ARN gives a UUID,
as Step Functions generates one). The id is drawn from the state attempt's seeded
randomness and each child's name is a UUID of the id and the child's place, so all are
the same on every replay. Its counters, as ``DescribeMapRun`` reports them, go to the
environment's :class:`MapRuns` as :class:`MapRunRecord` snapshots.
"""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from modelyard.workflows.result_writer import ChildStatus

__all__ = [
    "MapRunCounts",
    "MapRunNames",
    "MapRunRecord",
    "MapRunStatus",
    "MapRunTally",
    "MapRuns",
    "MemoryMapRuns",
]

_LABEL_FORBIDDEN: Final = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


class MapRunStatus(enum.Enum):
    """Where a Map Run is."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"


@dataclass(frozen=True, kw_only=True, slots=True)
class MapRunCounts:
    """Items or child executions of a Map Run by state (``MapRunItemCounts``)."""

    #: Not started yet.
    pending: int = 0
    #: In child executions running now.
    running: int = 0
    #: In child executions that succeeded.
    succeeded: int = 0
    #: In child executions that failed.
    failed: int = 0
    #: In child executions that timed out.
    timed_out: int = 0
    #: In child executions that were aborted.
    aborted: int = 0
    #: All of them.
    total: int = 0
    #: Whose results the ResultWriter exported.
    results_written: int = 0
    #: Failed and not redrivable (none here).
    failures_not_redrivable: int = 0
    #: Waiting to be redriven (none here).
    pending_redrive: int = 0

    def to_json(self) -> dict[str, int]:
        """As ``DescribeMapRun`` answers them."""
        return {
            "aborted": self.aborted,
            "failed": self.failed,
            "pending": self.pending,
            "resultsWritten": self.results_written,
            "running": self.running,
            "succeeded": self.succeeded,
            "timedOut": self.timed_out,
            "total": self.total,
            "failuresNotRedrivable": self.failures_not_redrivable,
            "pendingRedrive": self.pending_redrive,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, int]) -> MapRunCounts:
        """The counts :meth:`to_json` gave."""
        return cls(
            pending=data["pending"],
            running=data["running"],
            succeeded=data["succeeded"],
            failed=data["failed"],
            timed_out=data["timedOut"],
            aborted=data["aborted"],
            total=data["total"],
            results_written=data["resultsWritten"],
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class MapRunRecord:
    """A Map Run as ``DescribeMapRun`` describes it, at one moment."""

    #: Its ARN.
    map_run_arn: str
    #: The execution whose Map state started it.
    execution_arn: str
    #: The state machine of its children, ``…:stateMachine:<machine>/<label>``.
    state_machine_arn: str
    #: Where it is.
    status: MapRunStatus
    #: When it started, epoch seconds.
    start_date: float
    #: When it ended, epoch seconds.
    stop_date: float | None = None
    #: ``MaxConcurrency`` as configured (0: the default).
    max_concurrency: int = 0
    #: ``ToleratedFailurePercentage`` (0 when not set).
    tolerated_failure_percentage: float = 0.0
    #: ``ToleratedFailureCount`` (0 when not set).
    tolerated_failure_count: int = 0
    #: Its items by state.
    item_counts: MapRunCounts
    #: Its child executions by state.
    execution_counts: MapRunCounts
    #: How many times it was redriven.
    redrive_count: int = 0

    def to_json(self) -> dict[str, Any]:
        """The ``DescribeMapRun`` response (dates as epoch seconds)."""
        out: dict[str, Any] = {
            "mapRunArn": self.map_run_arn,
            "executionArn": self.execution_arn,
            "status": self.status.value,
            "startDate": self.start_date,
            "maxConcurrency": self.max_concurrency,
            "toleratedFailurePercentage": self.tolerated_failure_percentage,
            "toleratedFailureCount": self.tolerated_failure_count,
            "itemCounts": self.item_counts.to_json(),
            "executionCounts": self.execution_counts.to_json(),
            "redriveCount": self.redrive_count,
        }
        if self.stop_date is not None:
            out["stopDate"] = self.stop_date
        return out


class MapRuns(Protocol):
    """Where Map Runs are reported: the executions area keeps them for DescribeMapRun.

    Called on the event loop of the execution, so an implementation must not block: hand
    the record over and return. Calls are keyed by ``record.map_run_arn`` and may repeat
    (an execution replayed after a crash reports its Map Runs again): keep the latest.
    """

    def started(self, record: MapRunRecord) -> None:
        """A Map Run started (its counters still zero)."""
        ...

    def progress(self, record: MapRunRecord) -> None:
        """A Map Run's counters moved (reported every 1 % of its children or so)."""
        ...

    def finished(self, record: MapRunRecord) -> None:
        """A Map Run ended: its final status, stop date and counters."""
        ...


class MemoryMapRuns:
    """Map Runs kept in memory (tests, express executions)."""

    def __init__(self) -> None:
        #: The latest record of each Map Run, by ARN.
        self.records: dict[str, MapRunRecord] = {}
        #: Every report, in order: ``("started" | "progress" | "finished", record)``.
        self.reports: list[tuple[str, MapRunRecord]] = []

    def started(self, record: MapRunRecord) -> None:
        """Keep ``record``."""
        self._keep("started", record)

    def progress(self, record: MapRunRecord) -> None:
        """Keep ``record``."""
        self._keep("progress", record)

    def finished(self, record: MapRunRecord) -> None:
        """Keep ``record``."""
        self._keep("finished", record)

    def _keep(self, kind: str, record: MapRunRecord) -> None:
        self.records[record.map_run_arn] = record
        self.reports.append((kind, record))


@dataclass(frozen=True, kw_only=True, slots=True)
class MapRunNames:
    """The ARNs of a Map Run and of its children."""

    #: The Map Run's id, the last part of its ARN.
    run_id: uuid.UUID
    #: The Map Run's ARN.
    map_run_arn: str
    #: The children's state machine ARN.
    state_machine_arn: str
    #: The children's state machine name, ``<machine>/<label>``.
    state_machine_name: str
    #: Whether the children are EXPRESS executions.
    express: bool
    #: What every child's ARN starts with.
    execution_prefix: str

    @classmethod
    def of(
        cls,
        *,
        region: str,
        account: str,
        machine: str,
        state: str,
        label: str | None,
        express: bool,
        run_id: uuid.UUID,
    ) -> MapRunNames:
        """The names of Map Run ``run_id`` of state ``state`` of state machine ``machine``."""
        if not label:
            label = state
            if len(label) > 40 or _LABEL_FORBIDDEN.search(label):
                label = str(uuid.uuid3(uuid.NAMESPACE_OID, label))
        base = f"arn:aws:states:{region}:{account}:"
        machine = f"{machine}/{label}"
        return cls(
            run_id=run_id,
            map_run_arn=f"{base}mapRun:{machine}:{run_id}",
            state_machine_arn=f"{base}stateMachine:{machine}",
            state_machine_name=machine,
            express=express,
            execution_prefix=f"{base}{'express' if express else 'execution'}:{machine}:",
        )

    def child(self, index: int) -> tuple[str, str]:
        """The name and ARN of child ``index``: the same on every replay."""
        name = _uuid3(self.run_id, str(index))
        if self.express:
            return name, f"{self.execution_prefix}{name}:{_uuid3(self.run_id, f'{index}/x')}"
        return name, f"{self.execution_prefix}{name}"


def _uuid3(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid3(namespace, name))``, without the UUID object: once per child."""
    digest = bytearray(hashlib.md5(namespace.bytes + name.encode(), usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class MapRunTally:
    """Counters of a Map Run's items or child executions, moved as children start and end."""

    __slots__ = ("aborted", "failed", "pending", "running", "succeeded", "timed_out", "total")

    def __init__(self) -> None:
        self.pending = self.running = self.succeeded = self.failed = 0
        self.timed_out = self.aborted = self.total = 0

    def begin(self, count: int) -> None:
        """``count`` move from pending to running."""
        self.pending -= count
        self.running += count

    def end(self, status: ChildStatus, count: int, *, started: bool = True) -> None:
        """``count`` end with ``status``: from running or, if not ``started``, pending."""
        if started:
            self.running -= count
        else:
            self.pending -= count
        if status is ChildStatus.SUCCEEDED:
            self.succeeded += count
        elif status is ChildStatus.FAILED:
            self.failed += count
        elif status is ChildStatus.TIMED_OUT:
            self.timed_out += count
        elif status is ChildStatus.ABORTED:
            self.aborted += count

    def counts(self, written: int = 0) -> MapRunCounts:
        """A snapshot, with ``written`` results exported."""
        return MapRunCounts(
            pending=self.pending,
            running=self.running,
            succeeded=self.succeeded,
            failed=self.failed,
            timed_out=self.timed_out,
            aborted=self.aborted,
            total=self.total,
            results_written=written,
        )

    def restore(self, counts: MapRunCounts) -> None:
        """Take the values of ``counts`` (a Map Run replayed after it ended)."""
        self.pending, self.running = counts.pending, counts.running
        self.succeeded, self.failed = counts.succeeded, counts.failed
        self.timed_out, self.aborted, self.total = counts.timed_out, counts.aborted, counts.total
