"""Training documents read from a CSV file: the fact-checks' claim and article, or a text column.

The fact-check CSV has the columns ``id,date,claim,verdict,article,topic``; a document is
its ``claim`` and its ``article``, separated by a blank line (which also ends a sentence).
Other CSVs need a ``text`` column. Rows whose text is empty are skipped.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Final

from modelyard.algorithms.keyphrases.errors import InvalidTrainingData

__all__ = ["TEXT_COLUMNS", "read_training_texts"]

#: The columns a document is made of, in order of preference: all of a group that exists.
TEXT_COLUMNS: Final = (("claim", "article"), ("text",))


def read_training_texts(path: Path) -> list[str]:
    """Return the documents of the CSV at ``path``; raise `InvalidTrainingData` if it has none."""
    # Articles can exceed the csv module's default field limit of 128 KiB.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            columns = _text_columns(path, header)
            texts = [
                "\n\n".join(value for column in columns if (value := (row[column] or "").strip()))
                for row in reader
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidTrainingData(f"{path.name}: cannot read the CSV file: {exc}") from exc
    documents = [text for text in texts if text]
    if not documents:
        raise InvalidTrainingData(f"{path.name}: no row has any text")
    return documents


def _text_columns(path: Path, header: list[str]) -> list[str]:
    for group in TEXT_COLUMNS:
        present: list[str] = [column for column in group if column in header]
        if present:
            return present
    wanted = " or ".join("+".join(group) for group in TEXT_COLUMNS)
    raise InvalidTrainingData(
        f"{path.name}: no text column ({wanted}); the columns are {', '.join(header) or 'none'}"
    )
