"""Reading the feature rows of a request for the scikit-learn runtime, and naming mistakes.

The scikit-learn runtime (``handlers/sklearn.py``) takes rows of numbers. These helpers
turn a decoded body into an array (``features``), turn text or objects into numbers when
every element is one (``as_numbers``), and build the ``InvalidRequest`` that names the
first element that is not (``not_a_number``), so the client reads where its mistake is.
They run only when a request is not already a plain array of numbers, or to word an
error: the fast path never calls them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelyard.errors import InvalidRequest, PayloadMalformed

__all__ = ["as_numbers", "features", "first_true", "not_a_number"]


#: JSON names of the values ``orjson`` decodes to, for messages.
_JSON_TYPES = {
    dict: "object",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def features(value: Any) -> np.ndarray:
    """The feature rows in a decoded CSV or JSON body, as an array (the runtime checks it)."""
    if isinstance(value, dict):
        for key in ("instances", "inputs"):
            if key in value:
                value = value[key]
                break
        else:
            keys = ", ".join(map(repr, value)) or "none"
            raise PayloadMalformed(
                f"JSON object must hold the rows under 'instances' or 'inputs' (keys: {keys})"
            )
    if isinstance(value, list) and value and isinstance(value[0], dict):
        try:
            value = [instance["features"] for instance in value]
        except (KeyError, TypeError) as exc:
            raise PayloadMalformed("every instance object must have a 'features' list") from exc
    if isinstance(value, np.ndarray):  # CSV
        return value
    if not isinstance(value, list):
        raise PayloadMalformed(
            f"a JSON {_JSON_TYPES.get(type(value), type(value).__name__)} is not rows of "
            'features: send a list of rows, or {"instances": [...]}'
        )
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise PayloadMalformed(f"rows of the request are not a rectangular table: {exc}") from exc


def as_numbers(data: np.ndarray, where: str, model_name: str) -> np.ndarray:
    """A 2-D array of another dtype as float64, if every element is a number (or None: NaN).

    Object arrays come from JSON rows holding ``null`` or an object, or from V2 ``BYTES``
    tensors; string arrays from CSV or JSON text. Otherwise ``InvalidRequest`` names the
    first element that is not a number. Only requests that are not plain numbers get here.
    """
    items = data.ravel().tolist()
    width = data.shape[1]
    if data.dtype.kind == "O":
        for index, item in enumerate(items):
            if item is not None and not isinstance(item, int | float):
                raise not_a_number(where, model_name, item, index, width)
        try:
            return np.array(items, dtype=np.float64).reshape(data.shape)
        except (OverflowError, ValueError, TypeError) as exc:
            raise InvalidRequest(f"{where} holds a number beyond float64: {exc}") from exc
    for index, item in enumerate(items):
        if item == "":
            continue  # an empty CSV field is a missing value, not the culprit
        try:
            float(item)
        except (ValueError, TypeError):
            raise not_a_number(where, model_name, item, index, width) from None
    if not items:
        return np.zeros(data.shape)
    # Every element reads as a number, yet they are text (JSON strings): still refused.
    raise not_a_number(where, model_name, items[0], 0, width)


def not_a_number(where: str, model_name: str, item: Any, index: int, width: int) -> InvalidRequest:
    """The error naming ``item``, element ``index`` of rows ``width`` wide, as not a number."""
    row, column = divmod(index, width)
    if isinstance(item, str | bytes):
        kind = "the text" if isinstance(item, str) else "the bytes"
        shown = f"{kind} {item[:40]!r}"
    else:
        shown = f"a {type(item).__name__}"
    hint = ""
    if isinstance(item, str) and item.lstrip()[:1] in ("[", "{"):
        hint = " (is the body JSON? send it as application/json)"
    return InvalidRequest(
        f"{where} holds {shown} at row {row + 1}, column {column + 1}, where a number is "
        f"expected{hint}; model {model_name!r} takes numbers"
    )


def first_true(mask: np.ndarray) -> tuple[int, int]:
    """1-based row and column of the first true element of a 2-D mask."""
    row, column = np.argwhere(mask)[0]
    return int(row) + 1, int(column) + 1
