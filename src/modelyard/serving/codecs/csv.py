"""The ``text/csv`` codec, in the convention of SageMaker's built-in algorithms.

What is accepted: rows of comma-separated fields, no header line, ``\\n``, ``\\r\\n`` or
``\\r`` line ends, fields quoted per RFC 4180 (a quoted field may hold commas, line ends
and doubled quotes). Blank lines are skipped. Every row must have as many fields as the first.

What comes out: a 2-D ``float64`` array when every field is a number, where an empty field
is a missing value (NaN, as SageMaker XGBoost reads CSV); otherwise a 2-D array of ``str``
with every field as written.

Encoding writes one value per line for a scalar or a 1-D array and one row per line for a
2-D array (or the equivalent nested lists). Floats are written in their shortest exact form
(``repr``), so a float64 array decodes to exactly the same values; float16/32 arrays are
written in their own shortest form, which reads back to the same float32 value. Booleans
are written ``1``/``0``. Text fields are quoted only when they must be.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from modelyard.errors import NotAcceptable, PayloadMalformed, UnsupportedContentType

__all__ = ["CONTENT_TYPE", "decode", "encode"]

#: The media type this codec reads and writes.
CONTENT_TYPE = "text/csv"

_MUST_QUOTE = frozenset(',"\r\n')


def _text(body: bytes, charset: str) -> str:
    try:
        return bytes(body).decode(charset)
    except UnicodeDecodeError as exc:
        raise PayloadMalformed(
            f"CSV body is not valid {charset} text: byte offset {exc.start}: {exc.reason}"
        ) from exc
    except UnicodeError as exc:  # codecs such as idna raise the base class
        raise PayloadMalformed(f"CSV body is not valid {charset} text: {exc}") from exc
    except (LookupError, ValueError) as exc:  # unknown, not a text encoding, or NUL in the name
        raise UnsupportedContentType(
            f"{CONTENT_TYPE} charset {charset!r} is not supported"
        ) from exc


def _check_widths(rows: list[list[str]]) -> int:
    width = len(rows[0])
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise PayloadMalformed(f"CSV row {number} has {len(row)} fields, expected {width}")
    return width


def _to_array(fields: list[str], n_rows: int, width: int) -> np.ndarray:
    """Parse the fields as float64 if they all are numbers (empty = NaN), else keep them as str."""
    try:
        return np.array(fields, dtype=np.float64).reshape(n_rows, width)
    except ValueError:
        pass
    if "" in fields:
        try:
            filled = ["nan" if field == "" else field for field in fields]
            return np.array(filled, dtype=np.float64).reshape(n_rows, width)
        except ValueError:
            pass
    return np.array(fields, dtype=np.str_).reshape(n_rows, width)


def decode(body: bytes, charset: str = "utf-8") -> np.ndarray:
    """Parse a CSV body into a 2-D array (float64 if all numeric, else str)."""
    text = _text(body, charset)
    if '"' not in text:
        # Fast path: without quotes, a field can hold neither a comma nor a line end, so
        # plain splitting is exact and lets numpy parse all numbers in one call.
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = [line for line in text.split("\n") if line]
        if not lines:
            return np.empty((0, 0), dtype=np.float64)
        counts = [line.count(",") for line in lines]
        if min(counts) != max(counts):
            _check_widths([line.split(",") for line in lines])
        fields = ",".join(lines).split(",")
        return _to_array(fields, len(lines), counts[0] + 1)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    try:
        rows.extend(row for row in reader if row)
    except csv.Error as exc:
        raise PayloadMalformed(f"CSV line {reader.line_num} is malformed: {exc}") from exc
    if not rows:
        return np.empty((0, 0), dtype=np.float64)
    width = _check_widths(rows)
    return _to_array([field for row in rows for field in row], len(rows), width)


def _quote(field: str) -> str:
    if _MUST_QUOTE.isdisjoint(field):
        return field
    return '"' + field.replace('"', '""') + '"'


def _text_field(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotAcceptable(f"cannot encode non-UTF-8 bytes as {CONTENT_TYPE}") from exc
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if value is None or isinstance(value, dict | list | tuple | set):
        raise NotAcceptable(f"cannot encode a {type(value).__name__} field as {CONTENT_TYPE}")
    return str(value)


def _as_matrix(value: Any) -> np.ndarray:
    if isinstance(value, dict):
        raise NotAcceptable(f"cannot encode a dict as {CONTENT_TYPE}; return an array or rows")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise NotAcceptable(f"cannot encode the result as {CONTENT_TYPE}: {exc}") from exc
    if array.ndim == 0:
        return array.reshape(1, 1)
    if array.ndim == 1:
        return array.reshape(-1, 1)
    if array.ndim == 2:
        return array
    raise NotAcceptable(f"cannot encode a {array.ndim}-D array as {CONTENT_TYPE}; at most 2-D")


def encode(value: Any) -> bytes:
    """Write a scalar, 1-D or 2-D array (or nested lists) as CSV lines, one row per line."""
    array = _as_matrix(value)
    kind = array.dtype.kind
    if kind == "f" and array.dtype.itemsize >= 8:
        lines = [",".join(map(repr, row)) for row in array.astype(np.float64).tolist()]
    elif kind == "f":
        # numpy's str() of float16/float32 is the shortest text that reads back exactly.
        lines = [",".join(row) for row in array.astype(np.str_).tolist()]
    elif kind in "iu":
        lines = [",".join(map(str, row)) for row in array.tolist()]
    elif kind == "b":
        lines = [",".join(map(str, row)) for row in array.astype(np.uint8).tolist()]
    elif kind in "USO":
        single = array.shape[1] == 1
        lines = []
        for row in array.tolist():
            fields = [_quote(_text_field(field)) for field in row]
            if single and fields[0] == "":
                # A lone empty field would be a blank line, which decode skips.
                fields[0] = '""'
            lines.append(",".join(fields))
    else:
        raise NotAcceptable(f"cannot encode an array of dtype {array.dtype} as {CONTENT_TYPE}")
    if not lines:
        return b""
    return ("\n".join(lines) + "\n").encode("utf-8")
