"""Parallel and Map (inline): machines run side by side inside one state.

Each branch or iteration runs in its own :class:`~modelyard.workflows.interpreter.Frame`:
it reads the variables of the scope around it (a copy taken when it starts) and its own
assignments stay inside it, so the only way data leaves is the branch's output, as Step
Functions' variable scoping rules say.

A failing branch fails the Parallel state with the branch's error, and the others are
cancelled. A Map iteration that fails does the same, unless the state tolerates failures
(``ToleratedFailureCount``/``ToleratedFailurePercentage``): then the Map fails with
``States.ExceedToleratedFailureThreshold`` only once more items failed than tolerated.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from modelyard.workflows.dataflow import Dataflow
from modelyard.workflows.errors import (
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    StatesError,
)
from modelyard.workflows.item_batcher import map_items, number_field
from modelyard.workflows.paths import evaluate_payload

if TYPE_CHECKING:
    from modelyard.workflows.definition import StateMachine
    from modelyard.workflows.engine import Engine, Frame

__all__ = ["run_map", "run_parallel"]


async def run_parallel(
    interpreter: Engine, flow: Dataflow, frame: Frame
) -> tuple[Any, str | None, dict[str, Any]]:
    """One attempt of Parallel state ``flow.state``."""
    state = flow.state
    effective = flow.raw if flow.jsonata else flow.effective_input()
    branch_input = flow.task_input(effective)
    interpreter.event(frame, "ParallelStateStarted", None, None)
    branches = [
        (frame.child(f"{state.name}[{index}]"), machine)
        for index, machine in enumerate(state.branches)
    ]

    def branch(child: Frame, machine: StateMachine) -> Callable[[], Awaitable[Any]]:
        return lambda: interpreter.run_machine(machine, branch_input, child)

    try:
        results = await _all(
            [branch(child, machine) for child, machine in branches],
            concurrency=0,
            tolerated=None,
        )
    except StatesError as error:
        interpreter.event(frame, "ParallelStateFailed", None, None)
        raise error from None
    interpreter.event(frame, "ParallelStateSucceeded", None, None)
    return _finish(flow, results)


async def run_map(
    interpreter: Engine, flow: Dataflow, frame: Frame
) -> tuple[Any, str | None, dict[str, Any]]:
    """One attempt of (inline) Map state ``flow.state``."""
    state = flow.state
    assert state.processor is not None
    if (state.processor.processor_config or {}).get("Mode") == "DISTRIBUTED":
        from modelyard.workflows.distributed_map import run_distributed_map

        return await run_distributed_map(interpreter, flow, frame)
    effective = flow.raw if flow.jsonata else flow.effective_input()
    items = map_items(flow, effective)
    concurrency = number_field(flow, effective, state.spec, "MaxConcurrency") or 0
    tolerated_count = number_field(flow, effective, state.spec, "ToleratedFailureCount")
    tolerated_percentage = number_field(flow, effective, state.spec, "ToleratedFailurePercentage")
    interpreter.event(
        frame, "MapStateStarted", "mapStateStartedEventDetails", {"length": len(items)}
    )
    selector_field = "ItemSelector" if state.has("ItemSelector") else "Parameters"
    processor = state.processor

    def iteration(index: int, item: Any) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            child = frame.child(f"{state.name}[{index}]")
            interpreter.event(
                child,
                "MapIterationStarted",
                "mapIterationStartedEventDetails",
                {"name": state.name, "index": index},
            )
            try:
                value = _item_input(flow, effective, selector_field, index, item)
                output = await interpreter.run_machine(processor, value, child)
            except StatesError:
                interpreter.event(
                    child,
                    "MapIterationFailed",
                    "mapIterationFailedEventDetails",
                    {"name": state.name, "index": index},
                )
                raise
            interpreter.event(
                child,
                "MapIterationSucceeded",
                "mapIterationSucceededEventDetails",
                {"name": state.name, "index": index},
            )
            return output

        return run

    tolerant = tolerated_count is not None or tolerated_percentage is not None
    allowed = _allowed_failures(len(items), tolerated_count, tolerated_percentage)
    try:
        results = await _all(
            [iteration(index, item) for index, item in enumerate(items)],
            concurrency=int(concurrency or 0),
            tolerated=allowed if tolerant else None,
        )
    except StatesError:
        interpreter.event(frame, "MapStateFailed", None, None)
        raise
    interpreter.event(frame, "MapStateSucceeded", None, None)
    return _finish(flow, results)


def _finish(flow: Dataflow, results: list[Any]) -> tuple[Any, str | None, dict[str, Any]]:
    state = flow.state
    if flow.jsonata:
        assigned = flow.assignments(state.get("Assign"), None, result=results)
        return flow.output(results), state.next, assigned
    selected = flow.selected(results)
    assigned = flow.assignments(state.get("Assign"), selected)
    return flow.output(selected), state.next, assigned


async def _all(
    work: list[Callable[[], Awaitable[Any]]],
    *,
    concurrency: int,
    tolerated: int | None,
) -> list[Any]:
    """Run ``work`` (at most ``concurrency`` at once; 0: all), results in order.

    Without a tolerance (``None``) the first failure fails the whole with its own error;
    with one, more than ``tolerated`` failures fail it with
    ``States.ExceedToleratedFailureThreshold`` and a tolerated failure leaves its error
    output in its place. Either way, what still runs is cancelled.
    """
    if not work:
        return []
    limit = asyncio.Semaphore(concurrency if concurrency > 0 else len(work))
    results: list[Any] = [None] * len(work)
    failures = 0

    async def one(index: int) -> None:
        nonlocal failures
        async with limit:
            try:
                results[index] = await work[index]()
            except StatesError as error:
                if tolerated is None:
                    raise
                failures += 1
                if failures > tolerated:
                    raise StatesError(
                        EXCEED_TOLERATED_FAILURE_THRESHOLD,
                        f"The Map state failed {failures} of {len(work)} items, more than the "
                        f"{tolerated} it tolerates.",
                    ) from None
                results[index] = {"Error": error.error, "Cause": error.cause or ""}

    tasks = [asyncio.ensure_future(one(index)) for index in range(len(work))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return results


def _allowed_failures(total: int, count: Any, percentage: Any) -> int:
    allowed = total
    if count is not None:
        allowed = min(allowed, int(count))
    if percentage is not None:
        allowed = min(allowed, math.floor(total * float(percentage) / 100.0))
    return allowed


def _item_input(flow: Dataflow, effective: Any, field: str, index: int, item: Any) -> Any:
    """An iteration's input: the item through ItemSelector (or legacy Parameters).

    The selector sees ``$$.Map.Item``, and draws its randomness from a generator of its
    own item, so what it gives does not depend on the order iterations start in.
    """
    state = flow.state
    if not state.has(field if not flow.jsonata else "ItemSelector"):
        return item
    selector = Dataflow(
        state=state,
        raw=flow.raw,
        context={**flow.context, "Map": {"Item": {"Index": index, "Value": item}}},
        variables=flow.variables,
        seed=f"{flow.seed}[{index}]",
        entered=flow.entered,
    )
    if flow.jsonata:
        return selector.evaluate(state.get("ItemSelector"), field="ItemSelector")
    return evaluate_payload(
        state.get(field), selector.scope(effective), rng=selector.rng, field=field
    )
