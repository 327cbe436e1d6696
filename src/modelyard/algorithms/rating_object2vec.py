"""SageMaker Object2Vec's JSON contract for rating models: pairs in, one score each out.

A request names one user and one item per instance, as the rating API's mapping
template writes it (``examples/apis``)::

    {"instances": [{"in0": ["196"], "in1": ["242"]}, {"in0": [22], "in1": [377]}]}

and the answer has one prediction per instance, in order::

    {"predictions": [{"scores": [3.71]}, {"scores": [2.05]}]}

Ids may be strings or integers (Object2Vec's own token ids); the model compares them
as strings. Every malformed part is reported by its place (``instances[3].in1``) as a
:class:`~modelyard.errors.PayloadMalformed`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from modelyard.algorithms.rating import RatingId, RatingModel
from modelyard.errors import PayloadMalformed

__all__ = [
    "answer_object2vec",
    "object2vec_request",
    "object2vec_response",
    "parse_object2vec_request",
    "parse_object2vec_response",
]

_INSTANCE_KEYS = ("in0", "in1")
_ROLE = {"in0": "user", "in1": "item"}


def object2vec_request(pairs: Iterable[tuple[RatingId, RatingId]]) -> dict[str, Any]:
    """The request body asking for the rating of each (user, item) pair."""
    return {"instances": [{"in0": [user], "in1": [item]} for user, item in pairs]}


def parse_object2vec_request(
    body: bytes | str | Mapping[str, Any],
) -> list[tuple[RatingId, RatingId]]:
    """The (user, item) pairs of a request body, raw JSON or already decoded."""
    document = _decode(body)
    instances = _field(document, "instances", "a JSON object with 'instances'")
    pairs: list[tuple[RatingId, RatingId]] = []
    for n, instance in enumerate(instances):
        where = f"instances[{n}]"
        if not isinstance(instance, dict):
            raise PayloadMalformed(
                f"{where} must be an object with 'in0' and 'in1', got {_kind(instance)}"
            )
        unknown = sorted(set(instance) - set(_INSTANCE_KEYS))
        if unknown:
            raise PayloadMalformed(f"{where} has unknown key {unknown[0]!r}: only 'in0' and 'in1'")
        user, item = (_single_id(instance, key, where) for key in _INSTANCE_KEYS)
        pairs.append((user, item))
    return pairs


def object2vec_response(scores: Iterable[float]) -> dict[str, Any]:
    """The answer body for ``scores``, one per instance in request order."""
    return {"predictions": [{"scores": [float(score)]} for score in scores]}


def parse_object2vec_response(body: bytes | str | Mapping[str, Any]) -> list[float]:
    """The score of each prediction in an answer body, raw JSON or already decoded."""
    document = _decode(body)
    predictions = _field(document, "predictions", "a JSON object with 'predictions'")
    scores: list[float] = []
    for n, prediction in enumerate(predictions):
        where = f"predictions[{n}]"
        if not isinstance(prediction, dict) or "scores" not in prediction:
            raise PayloadMalformed(f"{where} must be an object with 'scores'")
        values = prediction["scores"]
        if not isinstance(values, list) or len(values) != 1:
            raise PayloadMalformed(f"{where}.scores must be a list of one number")
        score = values[0]
        if (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
        ):
            raise PayloadMalformed(f"{where}.scores[0] must be a finite number, got {score!r}")
        scores.append(float(score))
    return scores


def answer_object2vec(model: RatingModel, body: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """Answer an Object2Vec request with ``model``'s predicted ratings."""
    pairs = parse_object2vec_request(body)
    scores = model.predict([user for user, _ in pairs], [item for _, item in pairs])
    return object2vec_response(scores.tolist())


def _decode(body: bytes | str | Mapping[str, Any]) -> Any:
    if isinstance(body, Mapping):
        return body
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadMalformed(f"the body is not JSON: {exc}") from exc


def _field(document: Any, name: str, expected: str) -> list[Any]:
    if not isinstance(document, Mapping):
        raise PayloadMalformed(f"expected {expected}, got {_kind(document)}")
    if name not in document:
        raise PayloadMalformed(f"expected {expected}: {name!r} is missing")
    value = document[name]
    if not isinstance(value, list):
        raise PayloadMalformed(f"{name!r} must be a list, got {_kind(value)}")
    return value


def _single_id(instance: dict[str, Any], key: str, where: str) -> RatingId:
    role = _ROLE[key]
    if key not in instance:
        raise PayloadMalformed(f"{where} has no {key!r} (the {role})")
    value = instance[key]
    if not isinstance(value, list) or len(value) != 1:
        count = f"{len(value)} values" if isinstance(value, list) else _kind(value)
        raise PayloadMalformed(f"{where}.{key} must be a list of one {role} id, got {count}")
    found = value[0]
    if isinstance(found, bool) or not isinstance(found, str | int):
        raise PayloadMalformed(
            f"{where}.{key}[0] must be a string or an integer {role} id, got {_kind(found)}"
        )
    if isinstance(found, str) and not found:
        raise PayloadMalformed(f"{where}.{key}[0] is an empty {role} id")
    return found


def _kind(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
