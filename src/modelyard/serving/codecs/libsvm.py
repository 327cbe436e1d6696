"""The ``text/x-libsvm`` codec (alias ``text/libsvm``, as SageMaker XGBoost names it).

What is accepted, one row per line::

    [label] [index:value ...]

- ``label`` is optional: the first token is the label unless it contains ``:``; a missing
  label is NaN in ``LibSVMData.labels`` (SageMaker XGBoost requires labels for training;
  for inference they are ignored, so both forms are read).
- ``index`` is a non-negative integer, kept as written: zero- and one-based files both
  round-trip, and ``to_dense`` puts the value in column ``index`` either way.
- ``value`` is any float (``1``, ``-2.5e3``, ``nan``).
- Tokens are separated by spaces or tabs; blank lines are skipped. A line holding only a
  label is a row of zeros. Ranking ``qid:`` tokens and ``#`` comments are not supported.

Encoding writes ``LibSVMData`` as read (labels that are NaN are left out), and a dense
1-D or 2-D array as zero-based ``index:value`` pairs with zeros left out and label ``0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.errors import NotAcceptable, PayloadMalformed

__all__ = ["CONTENT_TYPE", "MAX_DENSE", "LibSVMData", "decode", "encode"]

#: The media type this codec writes; ``text/libsvm`` is read and written as an alias.
CONTENT_TYPE = "text/x-libsvm"
#: ``to_dense`` refuses matrices of more values than this rather than attempt them (a
#: 15-byte line ``1 4000000000:1`` would otherwise ask for 32 GB), as ``records`` does.
MAX_DENSE = 1 << 31


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LibSVMData:
    """Rows of sparse features with a label each, in compressed sparse row (CSR) form.

    Row ``i`` has the features ``indices[indptr[i]:indptr[i+1]]`` with the values
    ``values[indptr[i]:indptr[i+1]]``, in the order they were written.
    """

    #: One label per row (float64); NaN where the line had no label.
    labels: np.ndarray
    #: Row boundaries into ``indices`` and ``values`` (int64, length rows + 1).
    indptr: np.ndarray
    #: Feature indices as written (int64).
    indices: np.ndarray
    #: Feature values (float64).
    values: np.ndarray

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.labels)

    def to_dense(self, n_features: int | None = None) -> np.ndarray:
        """Return the rows as a dense 2-D float64 array; repeated indices in a row are summed.

        ``n_features`` defaults to the largest index + 1. An index at or past
        ``n_features``, or a matrix of more than ``MAX_DENSE`` values, raises
        ``PayloadMalformed`` naming its row.
        """
        width = int(self.indices.max()) + 1 if len(self.indices) else 0
        if n_features is not None:
            if width > n_features:
                position = int(np.argmax(self.indices >= n_features))
                row = int(np.searchsorted(self.indptr, position, side="right"))
                raise PayloadMalformed(
                    f"libsvm line {row} has feature index {int(self.indices[position])}, "
                    f"out of range for {n_features} features"
                )
            width = n_features
        if self.n_rows * width > MAX_DENSE:
            if n_features is None:
                position = int(np.argmax(self.indices))
                row = int(np.searchsorted(self.indptr, position, side="right"))
                raise PayloadMalformed(
                    f"libsvm line {row} has feature index {width - 1}: {self.n_rows} rows that "
                    f"wide are more than {MAX_DENSE} values"
                )
            raise PayloadMalformed(
                f"libsvm body has {self.n_rows} rows of {width} features: more than "
                f"{MAX_DENSE} values"
            )
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        # bincount sums duplicates in one vectorised pass (the way scipy's CSR densifies).
        flat = np.bincount(
            rows * width + self.indices, weights=self.values, minlength=self.n_rows * width
        )
        return flat.reshape(self.n_rows, width)


def _row_error(line_number: int, line: str) -> PayloadMalformed | None:
    """Find what is wrong with one line, for a message that names the token."""
    tokens = line.split()
    for position, token in enumerate(tokens, start=1):
        if position == 1 and ":" not in token:
            try:
                float(token)
            except ValueError:
                return PayloadMalformed(
                    f"libsvm line {line_number} token 1 {token!r}: label is not a number"
                )
            continue
        index, colon, value = token.partition(":")
        if not colon or ":" in value:
            return PayloadMalformed(
                f"libsvm line {line_number} token {position} {token!r}: expected index:value"
            )
        if not (index.isascii() and index.isdigit()):
            return PayloadMalformed(
                f"libsvm line {line_number} token {position} {token!r}: "
                "index is not a non-negative integer"
            )
        if int(index) >= 2**63:
            return PayloadMalformed(
                f"libsvm line {line_number} token {position} {token!r}: index is too large"
            )
        try:
            float(value)
        except ValueError:
            return PayloadMalformed(
                f"libsvm line {line_number} token {position} {token!r}: value is not a number"
            )
    return None


def decode(body: bytes) -> LibSVMData:
    """Parse a libsvm body into ``LibSVMData``."""
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadMalformed(
            f"libsvm body is not valid UTF-8: byte offset {exc.start}: {exc.reason}"
        ) from exc
    labels: list[str] = []
    pairs: list[str] = []
    counts: list[int] = [0]
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        lines.append((number, line))
        if ":" in tokens[0]:
            labels.append("nan")
        else:
            labels.append(tokens.pop(0))
        pairs.extend(tokens)
        counts.append(len(tokens))
    # Optimistic vectorised parse of every pair at once; when it fails, the slow path
    # below re-reads line by line to name the offending token.
    joined = " ".join(pairs)
    flat = joined.replace(":", " ").split()
    try:
        if joined.count(":") != len(pairs) or len(flat) != 2 * len(pairs):
            raise ValueError("not index:value")
        indices = np.array(flat[0::2], dtype=np.int64) if pairs else np.empty(0, np.int64)
        if len(indices) and indices.min() < 0:
            raise ValueError("negative index")
        values = np.array(flat[1::2], dtype=np.float64) if pairs else np.empty(0, np.float64)
        label_array = np.array(labels, dtype=np.float64) if labels else np.empty(0, np.float64)
    except (ValueError, OverflowError):
        for number, line in lines:
            error = _row_error(number, line)
            if error is not None:
                raise error from None
        raise PayloadMalformed("libsvm body is malformed") from None
    return LibSVMData(
        labels=label_array,
        indptr=np.cumsum(np.array(counts, dtype=np.int64)),
        indices=indices,
        values=values,
    )


def _from_dense(value: Any) -> LibSVMData:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise NotAcceptable(f"cannot encode the result as {CONTENT_TYPE}: {exc}") from exc
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise NotAcceptable(f"cannot encode a {array.ndim}-D array as {CONTENT_TYPE}; at most 2-D")
    rows, columns = np.nonzero(array)
    return LibSVMData(
        labels=np.zeros(array.shape[0]),
        indptr=np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=array.shape[0]))]),
        indices=columns.astype(np.int64),
        values=array[rows, columns],
    )


def encode(value: Any) -> bytes:
    """Write ``LibSVMData`` (or a dense array: zeros left out, label 0) as libsvm lines."""
    if isinstance(value, dict | str | bytes):
        raise NotAcceptable(f"cannot encode a {type(value).__name__} as {CONTENT_TYPE}")
    data = value if isinstance(value, LibSVMData) else _from_dense(value)
    indices = data.indices.tolist()
    values = data.values.tolist()
    bounds = data.indptr.tolist()
    lines = []
    for row, label in enumerate(data.labels.tolist()):
        start, stop = bounds[row], bounds[row + 1]
        tokens = [] if label != label else [repr(label)]  # NaN: the line had no label
        tokens.extend(
            f"{i}:{v!r}" for i, v in zip(indices[start:stop], values[start:stop], strict=True)
        )
        if not tokens:
            # An empty line would be skipped on the way back in; keep the row.
            tokens = ["nan"]
        lines.append(" ".join(tokens))
    if not lines:
        return b""
    return ("\n".join(lines) + "\n").encode("utf-8")
