"""The inputs of a distributed Map's child executions: its items, selected and batched.

::

    items ─ItemSelector (each, with $$.Map.Item.Index/Value)→ selected items
          ─ItemBatcher→ {"BatchInput": ..., "Items": [...]} a child, or one item a child

Without an ``ItemReader`` the items are what ``ItemsPath`` (JSONPath) or ``Items``
(JSONata) select, as for an inline Map. A batch holds at most ``MaxItemsPerBatch`` items
and its input at most ``MaxInputBytesPerBatch`` bytes: 256 KiB when not given, as Step
Functions batches "as many items as it can up to 256 KiB"; an item larger than that by
itself still gets a batch of its own (and its child fails on the input's size).

The selected items are kept once, in the list read; a child's input is built when the
child starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

import orjson

from modelyard.workflows.dataflow import Dataflow
from modelyard.workflows.errors import QUERY_EVALUATION_ERROR, RUNTIME, PathMissing, StatesError
from modelyard.workflows.paths import Scope, evaluate_payload

__all__ = ["MAX_BATCH_BYTES", "ChildInputs", "map_items", "number_field"]

#: A batch's input at most, when ``MaxInputBytesPerBatch`` does not say less: 256 KiB.
MAX_BATCH_BYTES: Final = 256 * 1024


class ChildInputs:
    """The inputs of a Map Run's children, from its items (which it selects in place)."""

    def __init__(
        self, flow: Dataflow, effective: Any, items: list[Any], sources: list[str] | None = None
    ) -> None:
        self._flow = flow
        self._effective = effective
        self._values = items
        self._batcher: Mapping[str, Any] | None = flow.state.get("ItemBatcher")
        self._batch_input: Any = None
        self._select(sources)
        #: Where each child's items end among the items.
        self._ends = self._batches()

    @property
    def items(self) -> int:
        """How many items there are."""
        return len(self._values)

    @property
    def children(self) -> int:
        """How many children they make."""
        return len(self._ends)

    def span(self, index: int) -> int:
        """How many items child ``index`` holds."""
        return self._ends[index] - (self._ends[index - 1] if index else 0)

    def input(self, index: int) -> Any:
        """The input of child ``index``."""
        first = self._ends[index - 1] if index else 0
        if self._batcher is None:
            return self._values[first]
        items = self._values[first : self._ends[index]]
        if "BatchInput" not in self._batcher:
            return {"Items": items}
        return {"BatchInput": self._batch_input, "Items": items}

    def _select(self, sources: list[str] | None) -> None:
        """Apply ``ItemSelector`` (or the older ``Parameters``) to every item, in place."""
        flow = self._flow
        state = flow.state
        field = "ItemSelector" if state.has("ItemSelector") else "Parameters"
        if not state.has(field) or (flow.jsonata and field == "Parameters"):
            return
        template = state.get(field)
        values = self._values
        for index, item in enumerate(values):
            entry: dict[str, Any] = {"Index": index, "Value": item}
            if sources is not None:
                entry["Source"] = sources[index]
            context = {**flow.context, "Map": {"Item": entry}}
            if flow.jsonata:
                values[index] = replace(flow, context=context).evaluate(template, field=field)
            else:
                scope = Scope(value=self._effective, context=context, variables=flow.variables)
                values[index] = evaluate_payload(template, scope, rng=flow.rng, field=field)

    def _batches(self) -> list[int]:
        batcher = self._batcher
        if batcher is None:
            return list(range(1, len(self._values) + 1))
        flow, effective = self._flow, self._effective
        most_items = _positive(flow, effective, batcher, "MaxItemsPerBatch")
        most_bytes = _positive(flow, effective, batcher, "MaxInputBytesPerBatch")
        most_bytes = most_bytes or MAX_BATCH_BYTES
        shell: dict[str, Any] = {"Items": []}
        if "BatchInput" in batcher:
            if flow.jsonata:
                self._batch_input = flow.evaluate(batcher["BatchInput"], field="BatchInput")
            else:
                self._batch_input = evaluate_payload(
                    batcher["BatchInput"], flow.scope(effective), rng=flow.rng, field="BatchInput"
                )
            shell = {"BatchInput": self._batch_input, "Items": []}
        base = len(orjson.dumps(shell))
        ends: list[int] = []
        count, size = 0, base
        for index, item in enumerate(self._values):
            # Each item adds its JSON and, after the first, a comma.
            extra = len(orjson.dumps(item)) + (1 if count else 0)
            if count and ((most_items and count >= most_items) or size + extra > most_bytes):
                ends.append(index)
                count, size, extra = 0, base, extra - 1
            count += 1
            size += extra
        if count:
            ends.append(len(self._values))
        return ends


def map_items(flow: Dataflow, effective: Any) -> list[Any]:
    """The items of a Map without ``ItemReader``: ``ItemsPath`` (JSONPath) or ``Items``."""
    state = flow.state
    if flow.jsonata:
        items = flow.evaluate(state.get("Items"), field="Items") if state.has("Items") else flow.raw
    else:
        path = state.get("ItemsPath", "$")
        try:
            items = flow.scope(effective).resolve(path)
        except PathMissing:
            raise StatesError(
                RUNTIME, f"Invalid path '{path}' for ItemsPath of Map state '{state.name}'."
            ) from None
    if not isinstance(items, list):
        raise StatesError(
            QUERY_EVALUATION_ERROR if flow.jsonata else RUNTIME,
            f"The {'Items' if flow.jsonata else 'ItemsPath'} of Map state '{state.name}' must "
            f"select an array, not {orjson.dumps(items).decode()[:200]}.",
        )
    return items


def number_field(flow: Dataflow, effective: Any, spec: Mapping[str, Any], field: str) -> Any:
    """``field`` of ``spec`` (a JSONata expression or a literal), or its ``…Path``'s value."""
    if field in spec:
        return flow.evaluate(spec[field], field=field) if flow.jsonata else spec[field]
    if f"{field}Path" in spec:
        path = spec[f"{field}Path"]
        try:
            return flow.scope(effective).resolve(path)
        except PathMissing:
            raise StatesError(
                RUNTIME, f"Invalid path '{path}' for {field}Path of state '{flow.state.name}'."
            ) from None
    return None


def _positive(flow: Dataflow, effective: Any, spec: Mapping[str, Any], field: str) -> int | None:
    value = number_field(flow, effective, spec, field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise StatesError(
            RUNTIME,
            f"The {field} of the ItemBatcher of state '{flow.state.name}' must be a positive "
            f"integer, not {orjson.dumps(value).decode()}.",
        )
    return value
