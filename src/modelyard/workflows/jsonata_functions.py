"""The Step Functions dialect of JSONata: what AWS adds and removes, its values and errors.

AWS documents six functions on top of JSONata 2.0.6 ("Transforming data with JSONata in Step
Functions"): ``$partition``, ``$range``, ``$hash``, ``$random`` (which takes an optional seed),
``$uuid`` and ``$parse``; and it disables ``$eval``, whose call then fails as calling any
non-function does (``T1006``). What the documentation leaves open (an empty array, a zero
chunk, a step pointing away from the end, a surplus argument) follows what AWS answers:
an undefined result (so the field fails with "returned nothing"), or the JSONata error code AWS
names. Non-integer arguments are cut towards zero (AWS's "round down": ``-1.7`` is ``-1``).

``$random()``, ``$uuid()``, JSONata's own ``$shuffle()``, ``$now()`` and ``$millis()`` read the
:class:`CallContext` instead of process state: the engine replays executions, so randomness
comes only from the ``random.Random`` it passes and time is the state's entered time.

A JSONata error is worded as jsonata-js (and so AWS) words it: :func:`describe_error`.

JSONata itself tells JSON ``null`` from undefined, but jsonata-python reads a Python ``None``
as undefined, so values cross the boundary through :func:`to_jsonata` (``None`` becomes the
library's null marker) and :func:`to_json` (back to plain JSON, integral floats as ints,
non-finite numbers named as AWS names them).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from jsonata import Functions, JException, Jsonata, Utils

__all__ = [
    "FUNCTIONS",
    "HASH_ALGORITHMS",
    "MAX_RANGE_ELEMENTS",
    "MEMORY_LIMIT_EXCEEDED",
    "NULL",
    "CallContext",
    "UnsupportedValue",
    "describe_error",
    "to_json",
    "to_jsonata",
]

#: JSONata's JSON null; a Python ``None`` is JSONata's undefined.
NULL: Final[Any] = Utils.NULL_VALUE
#: The most elements one ``$range`` call may build; AWS refuses ``$range(1, 360146, 1)``.
MAX_RANGE_ELEMENTS: Final = 360_145
#: AWS's cause when an expression builds a value past its memory bound.
MEMORY_LIMIT_EXCEEDED: Final = (
    "Expression evaluation memory limit exceeded: Check for excessive memory usage"
)
#: The algorithms ``$hash`` accepts, spelled (case-sensitively) as AWS spells them.
HASH_ALGORITHMS: Final = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1
_LONG_LIMIT: Final = float(2**63)
_SCALARS: Final = frozenset({str, int, float, bool})
# jsonata-js names an array signature's element type in T0412.
_ARRAY_TYPES: Final = {
    "a": "arrays",
    "b": "booleans",
    "f": "functions",
    "n": "numbers",
    "o": "objects",
    "s": "strings",
}
_PLACEHOLDER: Final = re.compile(r"\{\{\{(\w+)\}\}\}|\{\{(\w+)\}\}")


class UnsupportedValue(TypeError):
    """A JSONata value with no JSON form (a function, a regex) reached the output."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Call:
    """What one evaluation may draw on besides its bindings."""

    #: The only source of randomness for ``$random()`` and ``$uuid()``.
    rng: random.Random
    #: What ``$now()`` and ``$millis()`` answer; the wall clock when ``None``.
    now: datetime | None

    def millis(self) -> int:
        """``now`` in milliseconds since the epoch (a naive ``now`` is taken as UTC)."""
        moment = self.now if self.now is not None else datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return math.floor(moment.timestamp() * 1000)


_CALL: contextvars.ContextVar[_Call] = contextvars.ContextVar("jsonata_call")


class CallContext:
    """The randomness and time behind the functions while evaluations run inside it.

    Usage::

        with CallContext(rng=rng, now=entered):
            program.evaluate(None, bindings)
    """

    __slots__ = ("_call", "_token")

    def __init__(self, *, rng: random.Random, now: datetime | None) -> None:
        self._call = _Call(rng=rng, now=now)
        self._token: contextvars.Token[_Call] | None = None

    def __enter__(self) -> None:
        self._token = _CALL.set(self._call)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _CALL.reset(self._token)
            self._token = None


def to_jsonata(value: Any) -> Any:
    """A copy of the JSON ``value`` that JSONata reads as written (``null`` is not undefined)."""
    # Exact-type checks first: this runs over whole payloads, and ABC checks cost more.
    kind = type(value)
    if kind is dict:
        return {
            key: item if type(item) in _SCALARS else to_jsonata(item) for key, item in value.items()
        }
    if kind is list:
        return [item if type(item) in _SCALARS else to_jsonata(item) for item in value]
    if value is None:
        return NULL
    if kind in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {key: to_jsonata(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonata(item) for item in value]
    return value


def to_json(value: Any) -> Any:
    """Plain JSON for a defined JSONata value: what AWS would serialise it as.

    Raises :class:`UnsupportedValue` for a function or any other non-JSON value.
    """
    kind = type(value)
    if kind is str or kind is bool:
        return value
    if kind is int:
        # AWS keeps an integer exact while it fits in a long, and is a double past that.
        return value if _LONG_MIN <= value <= _LONG_MAX else float(value)
    if kind is float:
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return int(value) if value.is_integer() and abs(value) < _LONG_LIMIT else value
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        # Iterate, never index: the library's lazy ``[a..b]`` lists misreport their length.
        return [to_json(item) for item in iter(value)]
    if value is None or value is NULL:
        return None
    raise UnsupportedValue(kind.__name__)


def describe_error(exc: Any) -> tuple[str | None, str]:
    """The JSONata code ``exc`` carries (``None``: none), and its message as jsonata-js words it.

    The library's catalog says "Object" wherever jsonata-js says "function" and inserts values
    bare where jsonata-js writes them as JSON, so the message is rendered here from the code and
    the values the exception carries: ``Argument 1 of function "range" does not match ...``.
    """
    code = exc.error
    template = JException.error_codes.get(code)
    if template is None:
        # Bounds and a few library sites raise with the whole sentence in the code slot.
        return None, str(code)
    values = [exc.current, exc.expected, exc.extra]
    if code == "T0412":
        values[2] = _ARRAY_TYPES.get(values[2])
    queue = iter(values)

    def substitute(match: re.Match[str]) -> str:
        value = next(queue, None)
        if match.group(1) is not None:
            return "undefined" if value is None else str(value)
        return _as_javascript_json(value)

    message = _PLACEHOLDER.sub(substitute, template.replace("Object", "function"))
    return str(code), message


def _as_javascript_json(value: Any) -> str:
    if value is None:
        return "undefined"
    try:
        return json.dumps(to_json(value), ensure_ascii=False, separators=(",", ":"))
    except UnsupportedValue:
        return str(value)


# -- argument checks -------------------------------------------------------------------


def _signature_error(name: str, position: int) -> JException:
    return JException("T0410", -1, position, name)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _long(value: Any, name: str, position: int) -> int:
    """A numeric argument cut towards zero to a 64-bit integer, as AWS's runtime does."""
    if not _is_number(value):
        raise _signature_error(name, position)
    if isinstance(value, float):
        if math.isnan(value):
            return 0
        if math.isinf(value):
            return _LONG_MAX if value > 0 else _LONG_MIN
    return max(_LONG_MIN, min(_LONG_MAX, int(value)))


def _reject_surplus(args: list[Any], name: str, arity: int) -> None:
    # Each signature declares one slot past the documented arity so that a surplus argument
    # arrives here and is named at its own position, as AWS names it.
    if len(args) > arity and args[arity] is not None:
        raise _signature_error(name, arity + 1)


def _arg(args: list[Any], index: int) -> Any:
    return args[index] if index < len(args) else None


# -- the functions -----------------------------------------------------------------------


def _partition(args: list[Any]) -> Any:
    """``$partition(array, chunkSize)``: ``array`` cut into chunks, the last one shorter."""
    _reject_surplus(args, "partition", 2)
    array = _arg(args, 0)
    if array is None:
        return None
    if not isinstance(array, list):
        raise JException("T0412", -1, 1, "partition", "x")
    items = list(array)
    if not items:
        return None
    if (size_arg := _arg(args, 1)) is None:
        return [items]
    size = _long(size_arg, "partition", 2)
    if size < 0:
        raise JException("D3137", -1, "Second argument must be zero or greater")
    if size == 0:
        return None
    return [items[start : start + size] for start in range(0, len(items), size)]


def _range(args: list[Any]) -> Any:
    """``$range(start, end, step)``: ``start`` stepping towards ``end``, both included."""
    _reject_surplus(args, "range", 3)
    start = _long(_arg(args, 0), "range", 1)
    end = _long(_arg(args, 1), "range", 2)
    if (step_arg := _arg(args, 2)) is None:
        return None
    step = _long(step_arg, "range", 3)
    if step == 0 or (step > 0 and start > end) or (step < 0 and start < end):
        return None
    if (end - start) // step + 1 > MAX_RANGE_ELEMENTS:
        raise JException(MEMORY_LIMIT_EXCEEDED, -1)
    values = list(range(start, end + (1 if step > 0 else -1), step))
    # AWS answers a sequence, and JSONata reads a sequence of one as that one value.
    return values[0] if len(values) == 1 else values


def _hash(args: list[Any]) -> Any:
    """``$hash(value, algorithm)``: the hex digest of the UTF-8 ``value``."""
    _reject_surplus(args, "hash", 2)
    value = _arg(args, 0)
    if not isinstance(value, str):
        raise _signature_error("hash", 1)
    algorithm = _arg(args, 1)
    if algorithm is None:
        return None
    if not isinstance(algorithm, str):
        raise _signature_error("hash", 2)
    if algorithm not in HASH_ALGORITHMS:
        message = (
            f"Hash algorithm '{algorithm}' must be one of SHA-1, SHA-384, SHA-256, SHA-512, MD5"
        )
        raise JException("D3137", -1, message)
    return hashlib.new(HASH_ALGORITHMS[algorithm], value.encode()).hexdigest()


def _java_random_double(seed: int) -> float:
    """The first ``java.util.Random(seed).nextDouble()``, the number AWS answers for a seed."""
    multiplier, mask = 0x5DEECE66D, (1 << 48) - 1
    state = (seed ^ multiplier) & mask

    def next_bits(bits: int) -> int:
        nonlocal state
        state = (state * multiplier + 0xB) & mask
        return state >> (48 - bits)

    high = next_bits(26)
    return ((high << 27) + next_bits(27)) / float(1 << 53)


def _random(args: list[Any]) -> Any:
    """``$random([seed])``: a number in ``[0, 1)``, the same one for the same seed."""
    _reject_surplus(args, "random", 1)
    if (seed := _arg(args, 0)) is None:
        return _CALL.get().rng.random()
    return _java_random_double(_long(seed, "random", 1))


def _uuid(args: list[Any]) -> Any:
    """``$uuid()``: a version 4 UUID."""
    _reject_surplus(args, "uuid", 0)
    return str(uuid.UUID(int=_CALL.get().rng.getrandbits(128), version=4))


def _shuffle(args: list[Any]) -> Any:
    """``$shuffle(array)``: JSONata's own, drawing from the execution's randomness."""
    array = _arg(args, 0)
    if array is None:
        return None
    shuffled = list(array)
    _CALL.get().rng.shuffle(shuffled)
    return shuffled


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    parsed = dict(pairs)
    if len(parsed) != len(pairs):
        raise ValueError("duplicate key")
    return parsed


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _json_number(text: str) -> Any:
    # AWS keeps an integer exact while it fits in a long and reads a wider one as a double.
    number = int(text)
    return number if _LONG_MIN <= number <= _LONG_MAX else float(number)


def _parse(args: list[Any]) -> Any:
    """``$parse(jsonString)``: the JSON value the string holds (AWS's stand-in for ``$eval``)."""
    _reject_surplus(args, "parse", 1)
    text = _arg(args, 0)
    if text is None:
        return None
    if not isinstance(text, str):
        raise _signature_error("parse", 1)
    try:
        parsed = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
            parse_int=_json_number,
        )
    except ValueError as exc:
        raise JException("D3137", -1, "Invalid JSON") from exc
    return to_jsonata(parsed)


def _now(args: list[Any]) -> Any:
    """``$now([picture [, timezone]])``: the state's entered time, ISO 8601 by default."""
    return Functions.datetime_from_millis(_CALL.get().millis(), _arg(args, 0), _arg(args, 1))


def _millis(args: list[Any]) -> Any:
    """``$millis()``: the state's entered time in milliseconds since the epoch."""
    return _CALL.get().millis()


class _Native:
    """Adapts a Python function to what ``Jsonata.JFunction`` calls."""

    __slots__ = ("_implementation",)

    def __init__(self, implementation: Callable[[list[Any]], Any]) -> None:
        self._implementation = implementation

    def call(self, focus: Any, args: Any) -> Any:
        return self._implementation(list(args) if args else [])


def _function(implementation: Callable[[list[Any]], Any], signature: str) -> Any:
    return Jsonata.JFunction(_Native(implementation), signature)


#: What each compiled expression binds over the library's own functions (``None``: removed).
FUNCTIONS: Final[Mapping[str, Any]] = {
    "partition": _function(_partition, "<x?x?x?:x>"),
    "range": _function(_range, "<x?x?x?x?:x>"),
    "hash": _function(_hash, "<x?x?x?:x>"),
    "random": _function(_random, "<x?x?:n>"),
    "uuid": _function(_uuid, "<x?:s>"),
    "shuffle": _function(_shuffle, "<a:a>"),
    "parse": _function(_parse, "<x?x?:x>"),
    "now": _function(_now, "<s?s?:s>"),
    "millis": _function(_millis, "<:n>"),
    "eval": None,
}
