"""Rating prediction: a latent-factor model of (user, item) → rating, trained with numpy.

Train from a ratings file, predict, save and load::

    ratings = read_ratings("u.data")                       # user, item, rating[, time]
    model = train_rating_model(ratings, parse_rating_params({"factors": "64"}))
    model.predict(["196", "186"], ["242", "302"])          # array([3.7, 3.2])
    model.save("model/")                                   # .npz + JSON, no pickle
    RatingModel.load("model/")

Two methods (see :mod:`modelyard.algorithms.rating_training` for the objective):
``biased_mf``, the default, by alternating least squares and then the mean of Gibbs
draws from its posterior (Bayesian PMF), and ``svdpp`` (SVD++, with the implicit
feedback of which items each user rated) by mini-batch SGD. Ids are
compared as strings: ``42`` and ``"42"`` are the same user. A user or item not seen
in training falls back to what is known: the other side's bias, else the mean.
SageMaker Object2Vec's JSON bodies are read and written by
:mod:`modelyard.algorithms.rating_object2vec`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import BaseModel, ConfigDict

from modelyard.algorithms.rating_params import (
    InvalidRatingParams,
    RatingParams,
    parse_rating_params,
)
from modelyard.algorithms.rating_svdpp import fit_svdpp
from modelyard.algorithms.rating_training import CodedRatings, LatentFactors, fit_biased_mf
from modelyard.errors import InvalidRequest, ModelLoadFailed

__all__ = [
    "InvalidRatingData",
    "InvalidRatingParams",
    "RatingId",
    "RatingModel",
    "RatingParams",
    "Ratings",
    "parse_rating_params",
    "read_ratings",
    "train_rating_model",
]

#: A user or item id as clients send it; compared as ``str(id)``.
RatingId = str | int

#: The model's files inside its folder.
ARRAYS_FILE = "rating-model.npz"
META_FILE = "rating-model.json"
_FORMAT: Literal["modelyard.rating/1"] = "modelyard.rating/1"


class InvalidRatingData(InvalidRequest):
    """The ratings cannot be used for training."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Ratings:
    """Ratings to train on: parallel arrays of user ids, item ids and values."""

    #: User id of each rating (strings).
    users: npt.NDArray[np.str_]
    #: Item id of each rating (strings).
    items: npt.NDArray[np.str_]
    #: The ratings, finite.
    values: npt.NDArray[np.float64]

    @classmethod
    def of(
        cls, users: Sequence[RatingId], items: Sequence[RatingId], values: Sequence[float]
    ) -> Ratings:
        """Ratings from plain sequences; ids become strings."""
        return cls(
            users=np.array([str(u) for u in users], dtype=np.str_),
            items=np.array([str(i) for i in items], dtype=np.str_),
            values=np.asarray(values, dtype=np.float64),
        )

    def __post_init__(self) -> None:
        if not len(self.users) == len(self.items) == len(self.values):
            raise InvalidRatingData(
                f"users, items and values differ in length "
                f"({len(self.users)}, {len(self.items)}, {len(self.values)})"
            )
        if not np.all(np.isfinite(self.values)):
            raise InvalidRatingData("every rating must be a finite number")

    def __len__(self) -> int:
        return len(self.values)

    def take(self, indices: npt.ArrayLike) -> Ratings:
        """The ratings at ``indices`` (a train or test split)."""
        chosen = np.asarray(indices)
        return Ratings(
            users=self.users[chosen], items=self.items[chosen], values=self.values[chosen]
        )


#: Header names recognised for each column, lower-cased (MovieLens and common ones).
_COLUMN_NAMES = {
    "user": ("user", "user_id", "userid", "user id", "in0"),
    "item": ("item", "item_id", "itemid", "item id", "movie", "movie_id", "movieid", "in1"),
    "rating": ("rating", "score", "value", "stars"),
}


def read_ratings(path: str | Path) -> Ratings:
    """Read ratings from a CSV or TSV file: user, item, rating[, timestamp] per line.

    The separator is the first of tab, ``::`` (MovieLens-1M), comma or semicolon found
    in the first line, else runs of spaces. A first line whose rating is not a number
    is a header; if it names the columns (``userId,movieId,rating``) they are found by
    name, else by position. Extra columns (timestamps) are ignored.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRatingData(f"{source.name}: cannot be read: {exc}") from exc
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise InvalidRatingData(f"{source.name}: no ratings in the file")
    rows = _split_rows(lines)
    columns = (0, 1, 2)
    first_fields = rows[0][1]
    if len(first_fields) >= 3 and not _is_number(first_fields[2]):
        columns = _header_columns(first_fields)
        rows = rows[1:]
    users: list[str] = []
    items: list[str] = []
    values: list[float] = []
    for number, fields in rows:
        if len(fields) <= max(columns):
            raise InvalidRatingData(
                f"{source.name} line {number}: expected user, item and rating, "
                f"got {len(fields)} field(s)"
            )
        user, item, rating = (fields[c].strip() for c in columns)
        if not _is_number(rating):
            raise InvalidRatingData(
                f"{source.name} line {number}: rating {rating!r} is not a number"
            )
        if not user or not item:
            raise InvalidRatingData(f"{source.name} line {number}: empty user or item id")
        users.append(user)
        items.append(item)
        values.append(float(rating))
    if not values:
        raise InvalidRatingData(f"{source.name}: no ratings in the file")
    return Ratings.of(users, items, values)


def _split_rows(lines: list[tuple[int, str]]) -> list[tuple[int, list[str]]]:
    first = lines[0][1]
    if "::" in first and "\t" not in first:
        return [(n, line.split("::")) for n, line in lines]
    delimiter = next((d for d in ("\t", ",", ";") if d in first), None)
    if delimiter is None:
        return [(n, line.split()) for n, line in lines]
    reader = csv.reader(io.StringIO("\n".join(line for _, line in lines)), delimiter=delimiter)
    return [(n, fields) for (n, _), fields in zip(lines, reader, strict=True)]


def _header_columns(header: list[str]) -> tuple[int, int, int]:
    names = [name.strip().lower() for name in header]
    found = [
        next((names.index(a) for a in aliases if a in names), None)
        for aliases in _COLUMN_NAMES.values()
    ]
    if all(index is not None for index in found) and len(set(found)) == 3:
        return (found[0] or 0, found[1] or 0, found[2] or 0)
    return (0, 1, 2)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


@dataclass(frozen=True, kw_only=True, eq=False)
class RatingModel:
    """A trained rating model: predicts, saves itself, and loads back."""

    #: The params it was trained with.
    params: RatingParams
    #: User ids, in code order (the rows of ``user_bias`` and ``user_factors``).
    user_ids: tuple[str, ...]
    #: Item ids, in code order.
    item_ids: tuple[str, ...]
    #: The learned biases and factors.
    factors: LatentFactors
    #: Lowest prediction.
    min_rating: float
    #: Highest prediction.
    max_rating: float
    _user_codes: dict[str, int] = field(init=False, repr=False)
    _item_codes: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_user_codes", {u: c for c, u in enumerate(self.user_ids)})
        object.__setattr__(self, "_item_codes", {i: c for c, i in enumerate(self.item_ids)})

    def predict(
        self, users: Sequence[RatingId], items: Sequence[RatingId]
    ) -> npt.NDArray[np.float64]:
        """The predicted rating of each (users[n], items[n]) pair, clipped to the range."""
        if len(users) != len(items):
            raise InvalidRequest(f"{len(users)} users but {len(items)} items: pass one per pair")
        f = self.factors
        u = np.fromiter((self._user_codes.get(str(x), -1) for x in users), np.int64, len(users))
        i = np.fromiter((self._item_codes.get(str(x), -1) for x in items), np.int64, len(items))
        known_u, known_i = u >= 0, i >= 0
        both = known_u & known_i
        scores = np.full(len(u), f.global_mean)
        scores[known_u] += f.user_bias[u[known_u]]
        scores[known_i] += f.item_bias[i[known_i]]
        scores[both] += np.einsum("nk,nk->n", f.user_factors[u[both]], f.item_factors[i[both]])
        clipped: npt.NDArray[np.float64] = np.clip(scores, self.min_rating, self.max_rating)
        return clipped

    def save(self, folder: str | Path) -> None:
        """Write the model to ``folder`` (created if needed): arrays in .npz, ids in JSON."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        f = self.factors
        np.savez(
            target / ARRAYS_FILE,
            user_bias=f.user_bias,
            item_bias=f.item_bias,
            user_factors=f.user_factors,
            item_factors=f.item_factors,
        )
        meta = _SavedMeta(
            format=_FORMAT,
            params=self.params,
            global_mean=f.global_mean,
            min_rating=self.min_rating,
            max_rating=self.max_rating,
            user_ids=list(self.user_ids),
            item_ids=list(self.item_ids),
        )
        (target / META_FILE).write_bytes(orjson.dumps(meta.model_dump(mode="json")))

    @classmethod
    def load(cls, folder: str | Path) -> RatingModel:
        """Read a model written by :meth:`save`; :class:`ModelLoadFailed` says what is wrong."""
        source = Path(folder)
        try:
            meta = _SavedMeta.model_validate_json((source / META_FILE).read_bytes())
            with np.load(source / ARRAYS_FILE, allow_pickle=False) as saved:
                arrays = {name: np.asarray(saved[name], dtype=np.float64) for name in _ARRAYS}
        except FileNotFoundError as exc:
            raise ModelLoadFailed(f"rating model file missing: {exc.filename}") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadFailed(f"rating model in {source} cannot be read: {exc}") from exc
        users, items, k = len(meta.user_ids), len(meta.item_ids), meta.params.factors
        expected = {
            "user_bias": (users,),
            "item_bias": (items,),
            "user_factors": (users, k),
            "item_factors": (items, k),
        }
        for name, shape in expected.items():
            if arrays[name].shape != shape:
                raise ModelLoadFailed(
                    f"rating model {name} has shape {arrays[name].shape}, expected {shape}"
                )
        return cls(
            params=meta.params,
            user_ids=tuple(meta.user_ids),
            item_ids=tuple(meta.item_ids),
            factors=LatentFactors(global_mean=meta.global_mean, **arrays),
            min_rating=meta.min_rating,
            max_rating=meta.max_rating,
        )


_ARRAYS = ("user_bias", "item_bias", "user_factors", "item_factors")


class _SavedMeta(BaseModel):
    """The JSON half of a saved model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["modelyard.rating/1"]
    params: RatingParams
    global_mean: float
    min_rating: float
    max_rating: float
    user_ids: list[str]
    item_ids: list[str]


def train_rating_model(ratings: Ratings, params: RatingParams | None = None) -> RatingModel:
    """Train a rating model on ``ratings`` (default params: biased MF, 24 factors)."""
    chosen = params or RatingParams()
    if len(ratings) == 0:
        raise InvalidRatingData("no ratings to train on")
    user_ids, users = np.unique(ratings.users, return_inverse=True)
    item_ids, items = np.unique(ratings.items, return_inverse=True)
    coded = CodedRatings(
        users=users.astype(np.int64).ravel(),
        items=items.astype(np.int64).ravel(),
        values=ratings.values.astype(np.float64),
        n_users=len(user_ids),
        n_items=len(item_ids),
    )
    fit = fit_svdpp if chosen.method == "svdpp" else fit_biased_mf
    low = float(ratings.values.min()) if chosen.min_rating is None else chosen.min_rating
    high = float(ratings.values.max()) if chosen.max_rating is None else chosen.max_rating
    return RatingModel(
        params=chosen,
        user_ids=tuple(str(u) for u in user_ids),
        item_ids=tuple(str(i) for i in item_ids),
        factors=fit(coded, chosen),
        min_rating=low,
        max_rating=max(low, high),
    )
