"""The eighteen Step Functions intrinsic functions, evaluated against a state's data.

:func:`evaluate` runs the call tree :func:`parse` builds (see
:mod:`modelyard.workflows.intrinsics_parser`), innermost calls first. Paths are handed to
the caller's ``resolve`` exactly as written, so the one resolver serves the state's input
(``$.a``), the context object (``$$.Execution.Id``) and workflow variables (``$name.x``).

Arguments a function refuses raise ``StatesError(States.IntrinsicFailure, cause)`` with a
cause that begins as Step Functions' does, ``Invalid arguments in States.X``, and goes on to
say what is wrong. A path that selects nothing raises ``StatesError(States.Runtime, ...)``,
the error Step Functions reports for it. Randomness (``States.UUID``, ``States.MathRandom``
without a seed) comes only from the ``rng`` given, so a replayed execution repeats itself.

Where the developer guide says a non-integer "will be rounded off to the nearest integer",
halves round up (towards positive infinity), as Java's ``Math.round`` does: Step Functions
gives ``States.MathAdd(-1.5, -1.51)`` = -3.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final, TypeAlias

from modelyard.workflows.errors import (
    INTRINSIC_FAILURE,
    RUNTIME,
    InvalidDefinition,
    PathMissing,
    StatesError,
)
from modelyard.workflows.intrinsics_parser import (
    FUNCTION_NAMES,
    Arg,
    Call,
    FormatTemplate,
    PathArg,
    is_intrinsic,
    parse,
)

__all__ = [
    "FUNCTION_NAMES",
    "Arg",
    "Call",
    "FormatTemplate",
    "PathArg",
    "evaluate",
    "is_intrinsic",
    "parse",
]

#: Most characters States.Base64Encode, States.Base64Decode and States.Hash accept.
MAX_DATA_CHARACTERS: Final = 10_000
#: Most elements States.ArrayRange may produce.
MAX_RANGE_ITEMS: Final = 1000
#: The payload limit (256 KiB) an array given to ArrayPartition or ArrayContains must respect.
MAX_ARRAY_BYTES: Final = 256 * 1024
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_HASH_ALGORITHMS: Final = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
_NOT_BASE64: Final = re.compile(r"[^A-Za-z0-9+/=]")

_Function: TypeAlias = Callable[[Call, list[Any], random.Random], Any]


def evaluate(expression: str, resolve: Callable[[str], Any], *, rng: random.Random) -> Any:
    """Run an intrinsic call and return its JSON value.

    ``resolve(path)`` gets each path argument as written and returns its value, or raises
    :class:`PathMissing`. ``rng`` is the only source of randomness. Raises
    :class:`StatesError`: ``States.IntrinsicFailure`` for arguments a function refuses,
    ``States.Runtime`` for a missing path or (had validation been skipped) invalid syntax.
    """
    try:
        call = parse(expression)
    except InvalidDefinition as exc:
        # The guide: an invalid escape "found in the intrinsic invocation string" is a
        # runtime error; definitions are validated first, so this is only a safety net.
        raise StatesError(RUNTIME, exc.message) from exc
    return _run(call, resolve, rng)


def _run(call: Call, resolve: Callable[[str], Any], rng: random.Random) -> Any:
    low, high = _ARITY[call.name]
    count = len(call.args)
    if count < low or (high is not None and count > high):
        expected = (
            str(low) if low == high else f"{low} or more" if high is None else f"{low}-{high}"
        )
        raise _invalid(call.name, f"expected {expected} arguments, got {count}")
    values = [_value(arg, resolve, rng) for arg in call.args]
    return _FUNCTIONS[call.name](call, values, rng)


def _value(arg: Arg, resolve: Callable[[str], Any], rng: random.Random) -> Any:
    if isinstance(arg, PathArg):
        try:
            return resolve(arg.path)
        except PathMissing as exc:
            raise StatesError(
                RUNTIME, f"The JSONPath '{exc.path}' could not be found in the input"
            ) from exc
    if isinstance(arg, Call):
        return _run(arg, resolve, rng)
    return arg


def _invalid(name: str, problem: str) -> StatesError:
    return StatesError(INTRINSIC_FAILURE, f"Invalid arguments in {name}: {problem}")


def _describe(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _json(value: Any) -> str:
    """Compact JSON text, as Step Functions writes it; ValueError for NaN and infinities."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _is_number(value: Any) -> bool:
    # bool is a subclass of int in Python; in JSON it is no number.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rounded(name: str, value: Any, what: str) -> int:
    """A number as an integer, rounded to the nearest one with halves up (Java's Math.round)."""
    if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
        raise _invalid(name, f"{what} must be a number, got {_describe(value)}")
    if isinstance(value, int):
        return value
    return math.floor(Decimal(value) + Decimal("0.5"))


def _array(name: str, value: Any, what: str = "the first argument") -> list[Any]:
    if not isinstance(value, list):
        raise _invalid(name, f"{what} must be an array, got {_describe(value)}")
    return value


def _string(name: str, value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _invalid(name, f"{what} must be a string, got {_describe(value)}")
    return value


def _data(name: str, value: Any) -> str:
    text = _string(name, value, "the data")
    if len(text) > MAX_DATA_CHARACTERS:
        raise _invalid(
            name, f"the data has {len(text)} characters, more than {MAX_DATA_CHARACTERS}"
        )
    return text


def _within_payload_limit(name: str, array: list[Any]) -> None:
    size = len(json.dumps(array, separators=(",", ":"), ensure_ascii=False, default=repr).encode())
    if size > MAX_ARRAY_BYTES:
        raise _invalid(name, "the array is larger than the 256 KiB payload limit")


def _same(left: Any, right: Any) -> bool:
    """JSON equality: 1 equals 1.0, true is not 1, objects compare whatever their key order."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(_same(value, right[key]) for key, value in left.items())
        )
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(_same(a, b) for a, b in zip(left, right, strict=True))
        )
    comparable = type(left) is type(right) or (_is_number(left) and _is_number(right))
    return comparable and left == right


def _key(value: Any) -> Any:
    """A hashable key equal for values :func:`_same` calls equal."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, dict):
        return ("o", frozenset((key, _key(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("a", tuple(_key(item) for item in value))
    if _is_number(value):
        return ("n", value)
    if value is None:
        return ("z",)
    return ("s", value)


# ---- generic and JSON ------------------------------------------------------------------


def _format(call: Call, values: list[Any], rng: random.Random) -> str:
    name = call.name
    first = values[0]
    if call.template is not None:
        template = call.template
    else:
        text = _string(name, first, "the first argument (the template)")
        pieces = tuple(text.split("{}"))
        problem = None
        if any("{" in piece or "}" in piece for piece in pieces):
            problem = "the template has a '{' or '}' that is not part of {}"
        template = FormatTemplate(pieces=pieces, problem=problem)
    if template.problem is not None:
        raise _invalid(name, template.problem)
    placeholders = len(template.pieces) - 1
    if placeholders != len(values) - 1:
        raise _invalid(
            name,
            f"the template has {placeholders} occurrences of {{}} "
            f"but {len(values) - 1} values were given",
        )
    parts = [template.pieces[0]]
    try:
        for value, piece in zip(values[1:], template.pieces[1:], strict=True):
            parts.append(value if isinstance(value, str) else _json(value))
            parts.append(piece)
    except ValueError as exc:
        raise _invalid(name, str(exc)) from None
    return "".join(parts)


def _string_to_json(call: Call, values: list[Any], rng: random.Random) -> Any:
    text = _string(call.name, values[0], "the argument")
    if not text.strip():
        # Step Functions reads nothing there as null rather than failing.
        return None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise _invalid(call.name, f"the string is not valid JSON ({exc})") from None


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _json_to_string(call: Call, values: list[Any], rng: random.Random) -> str:
    try:
        return _json(values[0])
    except ValueError as exc:
        raise _invalid(call.name, str(exc)) from None


def _json_merge(call: Call, values: list[Any], rng: random.Random) -> dict[str, Any]:
    name = call.name
    first, second, deep = values
    if not isinstance(first, dict):
        raise _invalid(name, f"the first argument must be an object, got {_describe(first)}")
    if not isinstance(second, dict):
        raise _invalid(name, f"the second argument must be an object, got {_describe(second)}")
    if deep is not False:
        raise _invalid(
            name,
            f"the third argument must be false (deep merging is not supported), got {_describe(deep)}",
        )
    # Shallow: a key of the second object replaces the first's, nested objects unmerged.
    return {**first, **second}


# ---- arrays ----------------------------------------------------------------------------


def _array_of(call: Call, values: list[Any], rng: random.Random) -> list[Any]:
    return values


def _array_partition(call: Call, values: list[Any], rng: random.Random) -> list[list[Any]]:
    name = call.name
    array = _array(name, values[0])
    size = _rounded(name, values[1], "the chunk size")
    if size <= 0:
        raise _invalid(name, f"the chunk size must be a positive integer, got {size}")
    _within_payload_limit(name, array)
    return [array[start : start + size] for start in range(0, len(array), size)]


def _array_contains(call: Call, values: list[Any], rng: random.Random) -> bool:
    array = _array(call.name, values[0])
    _within_payload_limit(call.name, array)
    wanted = values[1]
    return any(_same(item, wanted) for item in array)


def _array_range(call: Call, values: list[Any], rng: random.Random) -> list[int]:
    name = call.name
    start = _rounded(name, values[0], "the first element")
    end = _rounded(name, values[1], "the final element")
    step = _rounded(name, values[2], "the increment")
    if step == 0:
        raise _invalid(name, "the increment must not be 0")
    # The final element is included when the steps land on it. Counted, not measured with
    # len(range(...)), which overflows for bounds such as 1e300.
    count = 0 if (end - start) * step < 0 else abs(end - start) // abs(step) + 1
    if count > MAX_RANGE_ITEMS:
        raise _invalid(name, f"the range has {count} items, more than {MAX_RANGE_ITEMS}")
    return list(range(start, start + count * step, step))


def _array_get_item(call: Call, values: list[Any], rng: random.Random) -> Any:
    name = call.name
    array = _array(name, values[0])
    index = values[1]
    if not _is_number(index) or (isinstance(index, float) and not math.isfinite(index)):
        raise _invalid(name, f"the index must be a number, got {_describe(index)}")
    # The guide says nothing of fractions; Step Functions truncates them (1.2 reads item 1).
    position = int(index)
    if not 0 <= position < len(array):
        raise _invalid(
            name, f"the index {position} is out of bounds for an array of length {len(array)}"
        )
    return array[position]


def _array_length(call: Call, values: list[Any], rng: random.Random) -> int:
    return len(_array(call.name, values[0], "the argument"))


def _array_unique(call: Call, values: list[Any], rng: random.Random) -> list[Any]:
    seen: set[Any] = set()
    unique: list[Any] = []
    for item in _array(call.name, values[0], "the argument"):
        key = _key(item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


# ---- encoding and hashing --------------------------------------------------------------


def _base64_encode(call: Call, values: list[Any], rng: random.Random) -> str:
    text = _data(call.name, values[0])
    # A lone surrogate (JSON allows "\ud800") has no UTF-8 form; Java writes '?' for it.
    return base64.b64encode(text.encode("utf-8", errors="replace")).decode("ascii")


def _base64_decode(call: Call, values: list[Any], rng: random.Random) -> str:
    name = call.name
    text = _data(name, values[0])
    # MIME decoding: characters outside the Base64 alphabet (line breaks, spaces) are skipped,
    # padding ends the data and may be left out.
    data = _NOT_BASE64.sub("", text).split("=", 1)[0]
    if len(data) % 4 == 1:
        raise _invalid(name, "the data is not Base64: its last unit has too few bits")
    try:
        decoded = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except binascii.Error as exc:
        raise _invalid(name, f"the data is not Base64 ({exc})") from None
    return decoded.decode("utf-8", errors="replace")


def _hash(call: Call, values: list[Any], rng: random.Random) -> str:
    name = call.name
    text = _data(name, values[0])
    algorithm = values[1]
    if not isinstance(algorithm, str) or algorithm not in _HASH_ALGORITHMS:
        raise _invalid(
            name,
            f"the algorithm must be one of {', '.join(_HASH_ALGORITHMS)}, got {_describe(algorithm)}",
        )
    digest = hashlib.new(_HASH_ALGORITHMS[algorithm], usedforsecurity=False)
    digest.update(text.encode("utf-8", errors="replace"))
    return digest.hexdigest()


# ---- math, strings, identifiers --------------------------------------------------------


def _math_random(call: Call, values: list[Any], rng: random.Random) -> int:
    name = call.name
    start = _rounded(name, values[0], "the start number")
    end = _rounded(name, values[1], "the end number")
    if start >= end:
        raise _invalid(name, f"the start number {start} must be less than the end number {end}")
    if len(values) == 3:
        seed = _rounded(name, values[2], "the seed")
        # Same seed, same number: the guide's promise, kept across runs and replays. Python
        # seeds with abs(seed), so negatives are folded onto the odd numbers to stay distinct.
        return random.Random(2 * seed if seed >= 0 else -2 * seed - 1).randrange(start, end)
    return rng.randrange(start, end)


def _math_add(call: Call, values: list[Any], rng: random.Random) -> int:
    name = call.name
    first = _rounded(name, values[0], "the first argument")
    second = _rounded(name, values[1], "the second argument")
    for number in (first, second, first + second):
        if not _INT32_MIN <= number <= _INT32_MAX:
            raise _invalid(name, f"{number} is outside the range {_INT32_MIN} to {_INT32_MAX}")
    return first + second


def _string_split(call: Call, values: list[Any], rng: random.Random) -> list[str]:
    name = call.name
    text = _string(name, values[0], "the first argument")
    delimiters = _string(name, values[1], "the delimiters")
    if not delimiters:
        return [text] if text else []
    # Every character of the second argument divides, and empty pieces are dropped, as
    # Step Functions does: 'a,,b' split at ',' is ["a", "b"].
    return [piece for piece in _splitter(delimiters).split(text) if piece]


@lru_cache(maxsize=256)
def _splitter(delimiters: str) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(char) for char in set(delimiters)) + "]+")


def _uuid(call: Call, values: list[Any], rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# (fewest, most) arguments; None: no most.
_ARITY: Final[dict[str, tuple[int, int | None]]] = {
    "States.Format": (1, None),
    "States.StringToJson": (1, 1),
    "States.JsonToString": (1, 1),
    "States.Array": (0, None),
    "States.ArrayPartition": (2, 2),
    "States.ArrayContains": (2, 2),
    "States.ArrayRange": (3, 3),
    "States.ArrayGetItem": (2, 2),
    "States.ArrayLength": (1, 1),
    "States.ArrayUnique": (1, 1),
    "States.Base64Encode": (1, 1),
    "States.Base64Decode": (1, 1),
    "States.Hash": (2, 2),
    "States.JsonMerge": (3, 3),
    "States.MathRandom": (2, 3),
    "States.MathAdd": (2, 2),
    "States.StringSplit": (2, 2),
    "States.UUID": (0, 0),
}

_FUNCTIONS: Final[dict[str, _Function]] = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": _array_of,
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": _array_length,
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _base64_encode,
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": _uuid,
}
