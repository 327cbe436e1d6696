"""What a mapping template works with: ``$input``, ``$util`` and Java-like values.

API Gateway runs mapping templates on Apache Velocity, in Java: the values a template
touches are Java objects, with Java's methods and Java's ``toString``. The classes here
give Python values the same face, so that templates written for API Gateway render alike:

- :class:`JavaMap` is a ``Map`` (``.size()``, ``.keySet()``, ``.containsKey()``...) and
  renders as ``{name=value, other=1}``;
- :class:`JavaList` is a ``List`` (``.size()``, ``.get(0)``, ``.contains()``...) and renders
  as ``[a, b]``; :class:`JsonArray`, a list read from a JSON payload, renders as compact
  JSON, as API Gateway's JSONPath library (Jayway with json-smart) does;
- :class:`TemplateInput` is ``$input`` and :class:`TemplateUtil` is ``$util``.

Python's own ``dict`` and ``list`` methods (``items``, ``pop``, ``append``...) are hidden
from templates: Velocity has no such methods, and a JSON member named ``items`` that is
absent must render as nothing, not as a Python method.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from jsonpath_ng import JSONPath
from jsonpath_ng.ext.parser import parse as parse_jsonpath
from jsonpath_ng.jsonpath import Child, Fields, Index, Root, This

__all__ = [
    "JavaList",
    "JavaMap",
    "JsonArray",
    "TemplateInput",
    "TemplateUtil",
    "escape_javascript",
    "java_text",
    "java_value",
]

#: ``dict`` methods a template must not see (Java's ``Map`` has ``get``, ``values``, ``clear``;
#: ``keys`` stays because airspeed's ``#foreach`` iterates a map through it).
_HIDDEN_MAP_NAMES = frozenset(
    {"copy", "fromkeys", "items", "pop", "popitem", "setdefault", "update"}
)
#: ``list`` methods a template must not see (``remove`` and ``clear`` are Java's too).
_HIDDEN_LIST_NAMES = frozenset(
    {"append", "copy", "count", "extend", "index", "insert", "pop", "reverse", "sort"}
)


class JavaMap(dict[str, Any]):
    """A map as a Velocity template sees it: ``java.util.Map`` methods, ``{k=v}`` text."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if name in _HIDDEN_MAP_NAMES:
            raise AttributeError(name)
        return super().__getattribute__(name)

    def __reduce__(self) -> tuple[type[JavaMap], tuple[dict[str, Any]]]:
        # The default would call the hidden ``items`` (for copy and pickle).
        return type(self), (dict(self),)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{key}={java_text(value)}" for key, value in dict.items(self)) + "}"

    def size(self) -> int:
        """``Map.size()``."""
        return len(self)

    def isEmpty(self) -> bool:
        """``Map.isEmpty()``."""
        return not self

    def containsKey(self, key: Any) -> bool:
        """``Map.containsKey(key)``."""
        return key in self

    def containsValue(self, value: Any) -> bool:
        """``Map.containsValue(value)``."""
        return value in dict.values(self)

    def getOrDefault(self, key: Any, default: Any) -> Any:
        """``Map.getOrDefault(key, default)``."""
        return dict.get(self, key, default)

    def keySet(self) -> JavaList:
        """``Map.keySet()``, in insertion order."""
        return JavaList(dict.keys(self))

    def entrySet(self) -> JavaList:
        """``Map.entrySet()``: entries with ``key`` and ``value``."""
        return JavaList(JavaMap(key=key, value=value) for key, value in dict.items(self))

    def put(self, key: Any, value: Any) -> Any:
        """``Map.put(key, value)``: the value it replaces, or null."""
        previous = dict.get(self, key)
        self[key] = value
        return previous

    def putAll(self, other: Mapping[Any, Any]) -> None:
        """``Map.putAll(other)``."""
        dict.update(self, dict.items(other) if isinstance(other, dict) else other.items())

    def remove(self, key: Any) -> Any:
        """``Map.remove(key)``: the value removed, or null."""
        return dict.pop(self, key, None)

    def toString(self) -> str:
        """``Map.toString()``."""
        return str(self)


class JavaList(list[Any]):
    """A list as a Velocity template sees it: ``java.util.List`` methods, ``[a, b]`` text."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if name in _HIDDEN_LIST_NAMES:
            raise AttributeError(name)
        return super().__getattribute__(name)

    def __reduce__(self) -> tuple[type[JavaList], tuple[list[Any]]]:
        # The default would call the hidden ``append`` (for copy and pickle).
        return type(self), (list(self),)

    def __str__(self) -> str:
        return "[" + ", ".join(java_text(item) for item in self) + "]"

    def size(self) -> int:
        """``List.size()``."""
        return len(self)

    def isEmpty(self) -> bool:
        """``List.isEmpty()``."""
        return not self

    def get(self, index: int) -> Any:
        """``List.get(index)``."""
        return self[index]

    def contains(self, value: Any) -> bool:
        """``List.contains(value)``."""
        return value in self

    def indexOf(self, value: Any) -> int:
        """``List.indexOf(value)``: -1 when absent."""
        for position, item in enumerate(self):
            if item == value:
                return position
        return -1

    def add(self, value: Any) -> bool:
        """``List.add(value)``."""
        list.append(self, value)
        return True

    def addAll(self, values: Iterable[Any]) -> bool:
        """``List.addAll(values)``."""
        list.extend(self, values)
        return True

    def set(self, index: int, value: Any) -> Any:
        """``List.set(index, value)``: the value it replaces."""
        previous = self[index]
        self[index] = value
        return previous

    def remove(self, item: Any) -> Any:
        """``List.remove(index)`` for an integer (the value removed), else ``remove(value)``."""
        if isinstance(item, int) and not isinstance(item, bool):
            return list.pop(self, item)
        if item in self:
            list.remove(self, item)
            return True
        return False

    def subList(self, start: int, end: int) -> JavaList:
        """``List.subList(start, end)``."""
        return JavaList(self[start:end])

    def toString(self) -> str:
        """``List.toString()``."""
        return str(self)


class JsonArray(JavaList):
    """An array read from a JSON payload; json-smart's ``JSONArray`` renders as JSON."""

    __slots__ = ()

    def __str__(self) -> str:
        return _json_text(self)


def java_text(value: Any) -> str:
    """How Velocity renders ``value``: Java's ``toString`` (``null``, ``true``, ``{k=v}``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, JavaMap | JavaList):
        return str(value)
    if isinstance(value, dict):
        return str(JavaMap(value))
    if isinstance(value, list | tuple):
        return str(JavaList(value))
    return str(value)


def java_value(data: Any) -> Any:
    """``data`` parsed from JSON, as template values: objects become :class:`JavaMap`,
    arrays :class:`JsonArray`, at every depth (a new copy: templates may change it)."""
    if isinstance(data, dict):
        return JavaMap({key: java_value(value) for key, value in data.items()})
    if isinstance(data, list):
        return JsonArray(java_value(item) for item in data)
    return data


def _json_text(value: Any) -> str:
    """Compact JSON text of ``value`` (integers beyond 64 bits included)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=java_text)


#: A run of digits that may be an integer beyond 64 bits.
_LONG_DIGITS = re.compile(r"\d{19}")


def _parse_json(text: str) -> Any:
    if _LONG_DIGITS.search(text):
        # orjson reads integers beyond 64 bits as floats, losing digits; json keeps them.
        return json.loads(text)
    return orjson.loads(text)


# -- JSONPath, as $input.path and $input.json apply it --------------------------------------

#: What a definite JSONPath selects when nothing matches.
_MISSING = object()


@functools.lru_cache(maxsize=1024)
def _compile_jsonpath(text: str) -> tuple[JSONPath | None, bool]:
    """The compiled path (``None`` for ``$`` itself) and whether it selects one value."""
    text = text.strip()
    if not text.startswith("$"):
        # Jayway JsonPath, which API Gateway uses, reads ``a.b`` as ``$.a.b``.
        text = "$." + text if text else "$"
    if text == "$":
        return None, True
    try:
        query = parse_jsonpath(text)
    except Exception as exc:  # jsonpath-ng raises several unrelated exception classes
        raise ValueError(f"Invalid JSONPath {text!r}: {exc}") from None
    return query, _is_definite(query)


def _is_definite(query: JSONPath) -> bool:
    if isinstance(query, Root | This):
        return True
    if isinstance(query, Child):
        return _is_definite(query.left) and _is_definite(query.right)
    if isinstance(query, Fields):
        return len(query.fields) == 1 and query.fields[0] != "*"
    if isinstance(query, Index):
        return len(query.indices) == 1
    return False


def _select(document: Any, path: str) -> Any:
    """What JSONPath ``path`` selects in ``document``: one value for a definite path
    (``_MISSING`` when absent), the list of every match for any other path (Jayway's rule)."""
    query, definite = _compile_jsonpath(str(path))
    if query is None:
        return document
    matches = [match.value for match in query.find(document)]
    if not definite:
        return matches
    return matches[0] if matches else _MISSING


# -- $input --------------------------------------------------------------------------------


class TemplateInput:
    """``$input``: the payload (request body, or the integration's answer in a response
    template) and the method request's parameters."""

    __slots__ = ("_document", "_header_names", "_headers", "_path", "_querystring", "_text")

    def __init__(
        self,
        body: bytes,
        *,
        path: Mapping[str, str],
        querystring: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> None:
        self._text = body.decode("utf-8", errors="replace")
        self._path = path
        self._querystring = querystring
        self._headers = headers
        self._header_names: dict[str, str] | None = None
        self._document: Any = _MISSING

    @property
    def body(self) -> str:
        """``$input.body``: the raw payload as a string; API Gateway gives ``{}`` for an
        empty one (LocalStack checked this against AWS: localstack/localstack#12413)."""
        return self._text or "{}"

    def json(self, path: str = "$") -> str:
        """``$input.json(path)``: the JSON text of what ``path`` selects.

        A definite path that selects nothing renders as nothing (an empty string). AWS's
        reference does not say; templates seen in the wild and the emulators checked
        against AWS (LocalStack, localstack/localstack#12774) render no value there.
        """
        selected = _select(self._payload(), path)
        return "" if selected is _MISSING else _json_text(selected)

    def path(self, path: str = "$") -> Any:
        """``$input.path(path)``: what ``path`` selects, as template values (maps render
        as ``{k=v}``, arrays as JSON, strings bare); null when nothing matches."""
        selected = _select(self._payload(), path)
        return None if selected is _MISSING else java_value(selected)

    def params(self, name: Any = None) -> Any:
        """``$input.params()``: every parameter (``path``, ``querystring``, ``header``);
        ``$input.params(name)``: the value of ``name`` in the path, else the query string,
        else the headers (the header name matched in any case); an empty string if none."""
        if name is None:
            return JavaMap(
                path=JavaMap(self._path),
                querystring=JavaMap(self._querystring),
                header=JavaMap(self._headers),
            )
        name = java_text(name)
        if name in self._path:
            return self._path[name]
        if name in self._querystring:
            return self._querystring[name]
        if name in self._headers:
            return self._headers[name]
        if self._header_names is None:
            self._header_names = {header.lower(): header for header in self._headers}
        header = self._header_names.get(name.lower())
        return "" if header is None else self._headers[header]

    def _payload(self) -> Any:
        """The payload parsed as JSON, once.

        An empty payload is ``{}``, as for ``$input.body``, so that the common
        ``"body": $input.json('$')`` stays valid JSON for a GET. A payload that is not JSON
        is taken as one JSON string holding the whole text: API Gateway parses payloads with
        json-smart in permissive mode, which reads unquoted text as a string, so that
        ``$input.path('$')`` is the text itself and ``$input.json('$')`` that text quoted,
        while any deeper path selects nothing.
        """
        if self._document is _MISSING:
            if not self._text.strip():
                self._document = {}
            else:
                try:
                    self._document = _parse_json(self._text)
                except ValueError:
                    self._document = self._text
        return self._document

    def __repr__(self) -> str:
        return "$input"


# -- $util ---------------------------------------------------------------------------------

#: What escapeJavaScript escapes: quotes, backslash, slash, controls, and all but ASCII.
_ESCAPED = re.compile("[\x00-\x1f\x80-\U0010ffff'\"\\\\/]")
_SHORT_ESCAPES = {
    "'": "\\'",
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\n": "\\n",
    "\t": "\\t",
    "\f": "\\f",
    "\r": "\\r",
}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if (short := _SHORT_ESCAPES.get(char)) is not None:
        return short
    code = ord(char)
    if code > 0xFFFF:
        # Java strings are UTF-16: a character beyond the BMP is two escaped surrogates.
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"
    return f"\\u{code:04X}"


def escape_javascript(text: str) -> str:
    """Escape ``text`` with JavaScript string rules, as Apache Commons Lang's
    ``StringEscapeUtils.escapeJavaScript`` does (which API Gateway's ``$util`` uses).

    ``'`` becomes ``\\'``, which JSON does not allow: API Gateway's reference tells
    template authors to follow with ``.replaceAll("\\\\'","'")`` inside JSON strings.
    """
    return _ESCAPED.sub(_escape, text)


class TemplateUtil:
    """``$util``: API Gateway's helper functions. Each gives null for a null argument
    (a missing value), as the Java methods behind them do."""

    __slots__ = ()

    def escapeJavaScript(self, value: Any) -> str | None:
        """Escape with JavaScript string rules (see :func:`escape_javascript`)."""
        return None if value is None else escape_javascript(java_text(value))

    def parseJson(self, value: Any) -> Any:
        """Parse JSON text into template values (maps, arrays, strings, numbers)."""
        if value is None:
            return None
        try:
            return java_value(_parse_json(java_text(value)))
        except ValueError:
            raise ValueError("$util.parseJson was given text that is not JSON.") from None

    def urlEncode(self, value: Any) -> str | None:
        """``application/x-www-form-urlencoded`` encoding, as Java's ``URLEncoder``: only
        letters, digits and ``.-*_`` stay, a space becomes ``+``."""
        if value is None:
            return None
        # quote_plus keeps "~" as well, which URLEncoder escapes.
        return urllib.parse.quote_plus(java_text(value), safe="*").replace("~", "%7E")

    def urlDecode(self, value: Any) -> str | None:
        """Decode ``application/x-www-form-urlencoded`` text (``+`` is a space)."""
        return None if value is None else urllib.parse.unquote_plus(java_text(value))

    def base64Encode(self, value: Any) -> str | None:
        """Base64 of the string's UTF-8 bytes."""
        if value is None:
            return None
        return base64.b64encode(java_text(value).encode()).decode("ascii")

    def base64Decode(self, value: Any) -> str | None:
        """The string whose UTF-8 bytes ``value`` encodes in base64 (padding optional, as
        for Java's decoder; bytes that are not UTF-8 become U+FFFD)."""
        if value is None:
            return None
        text = java_text(value)
        try:
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("$util.base64Decode was given text that is not base64.") from None
        return data.decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return "$util"
