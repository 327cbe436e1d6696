"""The Map state in Distributed mode: a Map Run of child executions, here in this process.

::

    MapStateStarted → MapRunStarted → items read, selected, batched; children run
        → MapRunSucceeded → MapStateSucceeded    (or MapRunFailed → MapStateFailed)

Items come from the ``ItemReader`` (:mod:`~modelyard.workflows.item_reader`) or, without
one, from ``ItemsPath``/``Items``; :mod:`~modelyard.workflows.item_batcher` selects and
batches them into child inputs. Each is the input of one child execution of the item
processor, ``STANDARD`` or ``EXPRESS`` as ``ProcessorConfig.ExecutionType`` says: both run
in this process with a history of their own, never the parent's; at most
``MaxConcurrency`` at once (0 or absent: 10,000).

A failed child fails the items it held. More failed items than ``ToleratedFailureCount``
(default 0) or than ``ToleratedFailurePercentage`` of all items fails the Map Run with
``States.ExceedToleratedFailureThreshold``: the children still running are aborted, the
ones not started stay pending. Results are reported as
:mod:`~modelyard.workflows.result_writer` says: the children's outputs in order, or the
``ResultWriter``'s files (written for a failed run too). The Map Run's names and counters
are :mod:`~modelyard.workflows.map_runs`'; its records go to ``Environment.map_runs``.

Resume: with an object store, finished children are saved every 1 % of the run (a
:class:`~modelyard.workflows.result_writer.MapRunProgress` under ``.map-runs/<id>/``). An
execution replayed after a crash enters the same Map Run again (its id comes from the
attempt's seeded randomness): the items are read again, the children already saved are
skipped (only those unsaved at the crash run twice, with the same names and task
idempotency keys), and a Map Run that had ended is not run at all: its recorded outcome
is answered. The progress of a Map Run outlives it (a replay may still need it): whoever
deletes a finished execution deletes ``.map-runs/<id>/`` of its Map Runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson

from modelyard.errors import ModelyardError
from modelyard.workflows.dataflow import Dataflow
from modelyard.workflows.engine import ExecutionInfo
from modelyard.workflows.environment import Environment, HistoryEvent, MemoryHistory
from modelyard.workflows.errors import (
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    RESULT_WRITER_FAILED,
    RUNTIME,
    StatesError,
)
from modelyard.workflows.item_batcher import ChildInputs, map_items, number_field
from modelyard.workflows.item_reader import item_reader_spec, read_items
from modelyard.workflows.map_runs import (
    MapRunCounts,
    MapRunNames,
    MapRunRecord,
    MapRunStatus,
    MapRunTally,
)
from modelyard.workflows.result_writer import (
    ChildRecord,
    ChildStatus,
    MapRunProgress,
    ResultWriterSpec,
    Transformation,
    result_writer_spec,
    transformed,
    write_results,
)

if TYPE_CHECKING:
    from modelyard.workflows.engine import Engine, Frame

__all__ = ["DEFAULT_MAX_CONCURRENCY", "run_distributed_map"]

#: Child executions at once when ``MaxConcurrency`` is 0 or absent.
DEFAULT_MAX_CONCURRENCY: Final = 10_000
_EXCEEDED: Final = "The specified tolerated failure threshold was exceeded"

T = TypeVar("T")


async def run_distributed_map(
    interpreter: Engine, flow: Dataflow, frame: Frame
) -> tuple[Any, str | None, dict[str, Any]]:
    """One attempt of Map state ``flow.state`` in Distributed mode."""
    state = flow.state
    assert state.processor is not None
    effective = flow.raw if flow.jsonata else flow.effective_input()
    # The same on every replay, and new for each attempt and each visit of the state (its
    # seeded randomness alone would repeat when a loop enters the state again).
    run_id = uuid.uuid3(uuid.UUID(int=flow.rng.getrandbits(128)), frame.next_key())
    # A copy of the list: selecting items replaces them in place, the input stays as it is.
    items = None if state.has("ItemReader") else list(map_items(flow, effective))
    settings = _Settings.of(flow, effective)
    interpreter.event(
        frame,
        "MapStateStarted",
        "mapStateStartedEventDetails",
        {"length": 0 if items is None else len(items)},
    )
    env = interpreter.environment
    names = MapRunNames.of(
        region=env.region,
        account=env.account,
        machine=interpreter.execution.state_machine_name,
        state=state.name,
        label=state.get("Label"),
        express=(state.processor.processor_config or {}).get("ExecutionType") == "EXPRESS",
        run_id=run_id,
    )
    started = interpreter.event(
        frame, "MapRunStarted", "mapRunStartedEventDetails", {"mapRunArn": names.map_run_arn}
    )
    run = _MapRun(interpreter, flow, effective, names, settings, started.timestamp)
    try:
        result = await run.execute(items)
    except StatesError as error:
        details = {"error": error.error}
        if error.cause is not None:
            details["cause"] = error.cause
        interpreter.event(frame, "MapRunFailed", "mapRunFailedEventDetails", details)
        interpreter.event(frame, "MapStateFailed", None, None)
        raise
    interpreter.event(frame, "MapRunSucceeded", None, None)
    interpreter.event(frame, "MapStateSucceeded", None, None)
    if flow.jsonata:
        assigned = flow.assignments(state.get("Assign"), None, result=result)
        return flow.output(result), state.next, assigned
    selected = flow.selected(result)
    assigned = flow.assignments(state.get("Assign"), selected)
    return flow.output(selected), state.next, assigned


@dataclass(frozen=True, kw_only=True, slots=True)
class _Settings:
    """The Map state's numbers, evaluated once an attempt."""

    max_concurrency: int
    tolerated_count: int | None
    tolerated_percentage: float | None

    @classmethod
    def of(cls, flow: Dataflow, effective: Any) -> _Settings:
        spec = flow.state.spec
        values = {
            field: number_field(flow, effective, spec, field)
            for field in ("MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage")
        }
        for field, value in values.items():
            percentage = field == "ToleratedFailurePercentage"
            kinds = (int, float) if percentage else (int,)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, kinds)
                or value < 0
                or (percentage and value > 100)
            ):
                raise StatesError(
                    RUNTIME,
                    f"The {field} of Map state '{flow.state.name}' is invalid: "
                    f"{orjson.dumps(value).decode()}.",
                )
        count, percentage = values["ToleratedFailureCount"], values["ToleratedFailurePercentage"]
        return cls(
            max_concurrency=int(values["MaxConcurrency"] or 0),
            tolerated_count=None if count is None else int(count),
            tolerated_percentage=None if percentage is None else float(percentage),
        )


class _MapRun:
    """One Map Run: its children, its counters and its progress."""

    def __init__(
        self,
        interpreter: Engine,
        flow: Dataflow,
        effective: Any,
        names: MapRunNames,
        settings: _Settings,
        start: float,
    ) -> None:
        self.interpreter = interpreter
        self.flow = flow
        self.effective = effective
        self.names = names
        self.settings = settings
        self.env = interpreter.environment
        self.start = start
        self.stop: float | None = None
        self.status = MapRunStatus.RUNNING
        self.items = MapRunTally()
        self.executions = MapRunTally()
        #: Results exported: (items, executions).
        self.written = (0, 0)
        self.failed_items = 0
        self.inputs: ChildInputs | None = None
        self.records: list[ChildRecord | None] = []
        self.unsaved: list[ChildRecord] = []
        self.every = 1
        self.ended = 0
        self.saving = asyncio.Lock()
        store = self.env.store
        self.progress = None if store is None else MapRunProgress(store, str(names.run_id))

    async def execute(self, given: list[Any] | None) -> Any:
        """The Map Run's result (the state's result); ``StatesError`` when it fails."""
        self.report("started")
        try:
            result = await self.run(given)
        except StatesError:
            self.status, self.stop = MapRunStatus.FAILED, self.env.clock.now()
            self.report("finished")
            raise
        except asyncio.CancelledError:
            # The execution was stopped (or timed out) while the Map Run ran.
            self.status, self.stop = MapRunStatus.ABORTED, self.env.clock.now()
            self.report("finished")
            raise
        self.status, self.stop = MapRunStatus.SUCCEEDED, self.env.clock.now()
        self.report("finished")
        return result

    async def run(self, given: list[Any] | None) -> Any:
        outcome = await self.kept(lambda progress: progress.outcome())
        if outcome is not None:
            return self.replayed(outcome)
        writer = result_writer_spec(self.flow, self.effective)
        sources: list[str] | None = None
        if given is None:
            spec = item_reader_spec(self.flow, self.effective)
            read = await asyncio.to_thread(read_items, self.env.store, spec)
            given, sources = read.items, read.sources
        inputs = self.inputs = ChildInputs(self.flow, self.effective, given, sources)
        children = inputs.children
        self.items.total = self.items.pending = inputs.items
        self.executions.total = self.executions.pending = children
        self.records = [None] * children
        self.every = max(1, children // 100)
        finished = await self.kept(
            lambda progress: progress.finished(children=children, items=inputs.items)
        )
        for record in (finished or {}).values():
            self.count(record, started=False)
        self.report("progress")
        error: StatesError | None = None
        try:
            if self.exceeded():
                raise StatesError(EXCEED_TOLERATED_FAILURE_THRESHOLD, _EXCEEDED)
            await self.run_children()
            result = await self.result(writer)
        except StatesError as failure:
            error = failure
        if error is not None:
            if writer is not None and error.error != RESULT_WRITER_FAILED:
                # A failed run still exports what its children did, and what they did not.
                await self.result(writer)
            await self.conclude({"status": "FAILED", "error": error.error, "cause": error.cause})
            raise error
        await self.conclude({"status": "SUCCEEDED", "result": result})
        return result

    # -- children -------------------------------------------------------------------------

    async def run_children(self) -> None:
        todo = iter([index for index, record in enumerate(self.records) if record is None])
        limit = self.settings.max_concurrency or DEFAULT_MAX_CONCURRENCY

        async def worker() -> None:
            # Workers share one iterator: at most `limit` children run, each taken once.
            for index in todo:
                await self.child(index)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(limit, len(self.records)))]
        if not workers:
            return
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            failures = [error for task in done if (error := task.exception()) is not None]
            # A crash (not a StatesError) wins over a failure of the run.
            failures.sort(key=lambda failure: isinstance(failure, StatesError))
            if failures:
                raise failures[0]
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        await self.save()

    async def child(self, index: int) -> None:
        """Run child execution ``index`` to its end and count it."""

        assert self.inputs is not None
        value = self.inputs.input(index)
        items = self.inputs.span(index)
        name, arn = self.names.child(index)
        clock = self.env.clock
        start = clock.now()
        self.items.begin(items)
        self.executions.begin(1)
        history = MemoryHistory()
        execution = ExecutionInfo(
            arn=arn,
            name=name,
            state_machine_arn=self.names.state_machine_arn,
            state_machine_name=self.names.state_machine_name,
            start_time=start,
            role_arn=self.interpreter.execution.role_arn,
        )
        processor = self.flow.state.processor
        assert processor is not None
        env = self.env
        # Built field by field: dataclasses.replace costs more, once per child.
        child_env = Environment(
            tasks=env.tasks,
            clock=env.clock,
            history=history,
            region=env.region,
            account=env.account,
            store=env.store,
            map_runs=env.map_runs,
        )
        child = self.interpreter.spawn(processor, child_env, execution)
        try:
            outcome = await child.execute(value)
        except asyncio.CancelledError:
            aborted = ChildRecord(
                index=index,
                name=name,
                arn=arn,
                items=items,
                status=ChildStatus.ABORTED,
                input_text=orjson.dumps(value).decode(),
                error="States.Aborted",
                cause="The Map Run failed.",
                start=start,
                stop=clock.now(),
            )
            self.count(aborted)
            raise
        status = ChildStatus(outcome.status.value)
        events = history.events
        record = ChildRecord(
            index=index,
            name=name,
            arn=arn,
            items=items,
            status=status,
            # The child's history has its input and output as text already.
            input_text=_detail(events[0], "input"),
            output=outcome.output,
            output_text=_detail(events[-1], "output") if status is ChildStatus.SUCCEEDED else None,
            error=outcome.error,
            cause=outcome.cause,
            start=start,
            stop=clock.now(),
        )
        self.count(record)
        self.unsaved.append(record)
        if self.exceeded():
            raise StatesError(EXCEED_TOLERATED_FAILURE_THRESHOLD, _EXCEEDED)
        if len(self.unsaved) >= self.every:
            await self.save()

    def count(self, record: ChildRecord, *, started: bool = True) -> None:
        """Record how child ``record.index`` ended in the counters."""
        self.records[record.index] = record
        self.items.end(record.status, record.items, started=started)
        self.executions.end(record.status, 1, started=started)
        if record.failed:
            self.failed_items += record.items
        self.ended += 1
        if started and self.ended % self.every == 0:
            self.report("progress")

    def exceeded(self) -> bool:
        """Whether more items failed than the state tolerates."""
        failed = self.failed_items
        count, percentage = self.settings.tolerated_count, self.settings.tolerated_percentage
        if (count is not None or percentage is None) and failed > (count or 0):
            return True
        total = self.items.total
        return percentage is not None and total > 0 and failed * 100 > percentage * total

    # -- results --------------------------------------------------------------------------

    async def result(self, writer: ResultWriterSpec | None) -> Any:
        """The children's results in order, or the ResultWriter's export of them."""
        names = self.names
        transformation = Transformation.COMPACT if writer is None else writer.transformation
        if writer is None or writer.bucket is None:
            done = [record for record in self.records if record is not None]
            return transformed(done, transformation, names.state_machine_arn, express=names.express)
        records = [
            self.pending(index) if record is None else record
            for index, record in enumerate(self.records)
        ]
        written = [record for record in records if record.status is not ChildStatus.PENDING]
        self.written = (sum(record.items for record in written), len(written))
        return await asyncio.to_thread(
            write_results,
            self.env.store,
            bucket=writer.bucket,
            prefix=writer.prefix,
            map_run_arn=names.map_run_arn,
            state_machine_arn=names.state_machine_arn,
            express=names.express,
            records=records,
            transformation=transformation,
            output_type=writer.output_type,
        )

    def pending(self, index: int) -> ChildRecord:
        assert self.inputs is not None
        name, arn = self.names.child(index)
        return ChildRecord(
            index=index,
            name=name,
            arn=arn,
            items=self.inputs.span(index),
            status=ChildStatus.PENDING,
            input_text=orjson.dumps(self.inputs.input(index)).decode(),
        )

    # -- progress and reports -------------------------------------------------------------

    async def kept(self, work: Callable[[MapRunProgress], T]) -> T | None:
        """``work(progress)`` in a thread; ``None`` without a store, or when it fails."""
        if self.progress is None:
            return None
        progress = self.progress
        try:
            return await asyncio.to_thread(work, progress)
        except (ModelyardError, ValueError):
            # Progress only spares work on a resume: the run goes on without it.
            self.progress = None
            return None

    async def save(self) -> None:
        async with self.saving:
            if not self.unsaved:
                return
            records, self.unsaved = self.unsaved, []
            await self.kept(lambda progress: progress.save(records))

    async def conclude(self, outcome: dict[str, Any]) -> None:
        outcome["items"] = self.items.counts(self.written[0]).to_json()
        outcome["executions"] = self.executions.counts(self.written[1]).to_json()
        await self.kept(lambda progress: progress.conclude(outcome))

    def replayed(self, outcome: Mapping[str, Any]) -> Any:
        """The outcome of a Map Run that had ended before a crash, as it was."""
        items = MapRunCounts.from_json(outcome["items"])
        executions = MapRunCounts.from_json(outcome["executions"])
        self.items.restore(items)
        self.executions.restore(executions)
        self.written = (items.results_written, executions.results_written)
        if outcome["status"] != "SUCCEEDED":
            raise StatesError(outcome["error"], outcome.get("cause"))
        return outcome["result"]

    def report(self, kind: str) -> None:
        """Tell the environment's MapRuns (``started``, ``progress`` or ``finished``)."""
        map_runs = self.env.map_runs
        if map_runs is None:
            return
        settings = self.settings
        record = MapRunRecord(
            map_run_arn=self.names.map_run_arn,
            execution_arn=self.interpreter.execution.arn,
            state_machine_arn=self.names.state_machine_arn,
            status=self.status,
            start_date=self.start,
            stop_date=self.stop,
            max_concurrency=settings.max_concurrency,
            tolerated_failure_percentage=settings.tolerated_percentage or 0.0,
            tolerated_failure_count=settings.tolerated_count or 0,
            item_counts=self.items.counts(self.written[0]),
            execution_counts=self.executions.counts(self.written[1]),
        )
        getattr(map_runs, kind)(record)


def _detail(event: HistoryEvent, name: str) -> str:
    assert event.details is not None
    return str(event.details[1][name])
