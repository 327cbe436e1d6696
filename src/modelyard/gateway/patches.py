"""The ``patchOperations`` of API Gateway's Update* operations, applied to documents.

Every Update* operation (UpdateRestApi, UpdateMethod, UpdateApiKey, UpdateUsagePlan...)
takes a list of JSON-Patch-like operations::

    [{"op": "replace", "path": "/name", "value": "new name"},
     {"op": "add", "path": "/requestTemplates/application~1json", "value": "{...}"},
     {"op": "remove", "path": "/binaryMediaTypes/image~1png"}]

Paths are JSON Pointers into the resource's camelCase document (``~1`` is ``/``, ``~0``
is ``~``) and values are always strings, read by the path's own rule (a boolean, a number,
one of an enum's values...). Each operation declares the paths it accepts as a table of
:data:`Rule` values, one per documented path:

- :class:`Field`: a member set whole (``/name``, ``/throttle/rateLimit``,
  ``/endpointConfiguration/types/0``);
- :class:`Entry`: one entry of a map, named by the last segment
  (``/requestParameters/method.request.header.x``);
- :class:`Item`: one item of a list, named by the last segment
  (``/binaryMediaTypes/image~1png``) or by the value (``/authorizationScopes``).

:func:`apply_patch` applies the operations in order to a copy of a document. A path no
rule accepts, or an op its rule does not, is refused as API Gateway refuses it, with a
:class:`~modelyard.gateway.errors.BadRequest` naming the path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from modelyard.gateway.errors import BadRequest

__all__ = [
    "EDITS",
    "Entry",
    "Field",
    "Item",
    "Op",
    "PatchOperation",
    "Rule",
    "apply_patch",
    "boolean",
    "choice",
    "flag",
    "integer",
    "nonblank",
    "number",
    "optional",
    "optional_text",
    "parse_operations",
    "pointer",
    "source_value",
    "text",
]


class Op(StrEnum):
    """What a patch operation does (``PatchOperation.op``)."""

    #: Set a member, or add an entry or item.
    ADD = "add"
    #: Remove a member, entry or item.
    REMOVE = "remove"
    #: Set a member, entry or item that may be there already.
    REPLACE = "replace"
    #: ``remove`` at ``from`` then ``add`` at ``path``.
    MOVE = "move"
    #: ``replace`` at ``path`` with the value at ``from``.
    COPY = "copy"
    #: Compare (no API Gateway resource supports it).
    TEST = "test"


#: The ops of a map's entries and of most lists: API Gateway's usual trio.
EDITS: Final = frozenset({Op.ADD, Op.REPLACE, Op.REMOVE})

#: A value's reader: the patch's string (``None`` when not given) → the document's value;
#: raises ``ValueError`` for a value it does not accept.
Reader = Callable[[str | None], Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class PatchOperation:
    """One operation of a ``patchOperations`` list, as the client sent it."""

    #: What it does.
    op: Op
    #: Where, as a JSON Pointer (``/requestTemplates/application~1json``).
    path: str
    #: The new value (always a string on the wire), if any.
    value: str | None = None
    #: Where ``copy`` and ``move`` take their value from.
    from_: str | None = None


def parse_operations(raw: object) -> list[PatchOperation]:
    """The ``patchOperations`` member of an Update* body (``None``: no operation)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("patchOperations must be a list")
    parsed: list[PatchOperation] = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise BadRequest("Each patch operation must be an object")
        try:
            op = Op(str(item.get("op")))
        except ValueError:
            raise BadRequest(
                "Invalid patch operation specified. Must be 'add'|'remove'|'replace'|'move'|"
                "'copy'|'test'"
            ) from None
        path, value, source = item.get("path"), item.get("value"), item.get("from")
        if not isinstance(path, str) or not path.startswith("/"):
            raise BadRequest(f"Invalid patch path '{path}' specified for op '{op}'")
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"Invalid patch value '{value}' specified for op '{op}': a string")
        if source is not None and not isinstance(source, str):
            raise BadRequest(f"Invalid from path '{source}' specified for op '{op}'")
        parsed.append(PatchOperation(op=op, path=path, value=value, from_=source))
    return parsed


def pointer(path: str) -> list[str]:
    """The segments of a JSON Pointer, unescaped (``/a~1b/c`` → ``["a/b", "c"]``)."""
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def source_value(document: Mapping[str, Any], operation: PatchOperation) -> str:
    """The value a ``copy`` or ``move`` takes from its ``from``, as a patch's string."""
    found = _at(document, pointer(operation.from_)) if operation.from_ else None
    if found is None or isinstance(found, Mapping | list):
        raise BadRequest(f"Invalid from path '{operation.from_}' specified for op '{operation.op}'")
    if isinstance(found, bool):
        return "true" if found else "false"
    return str(found)


# -- readers ---------------------------------------------------------------------------------


def text(value: str | None) -> str:
    """A string that must be given (``/name``, ``/uri``)."""
    if value is None:
        raise ValueError("a value is required")
    return value


def nonblank(value: str | None) -> str:
    """A string that must be given and not be empty (``/name``)."""
    if not value:
        raise ValueError("it cannot be blank")
    return value


def optional_text(value: str | None) -> str | None:
    """A string that may be cleared: not given or empty is ``None`` (``/description``)."""
    return value or None


def optional(read: Reader) -> Reader:
    """``read``, but a value not given or empty clears the member (``None``)."""

    def read_optional(value: str | None) -> Any:
        return read(value) if value else None

    return read_optional


def boolean(value: str | None) -> bool:
    """``"true"`` or ``"false"`` (any case)."""
    lowered = (value or "").lower()
    if lowered not in ("true", "false"):
        raise ValueError("true or false")
    return lowered == "true"


def flag(value: str | None) -> bool:
    """A boolean that is ``False`` when not given (``add`` of a method's request
    parameter without a value: an optional parameter)."""
    return False if value is None else boolean(value)


def integer(low: int | None = None, high: int | None = None) -> Reader:
    """A reader of a whole number, between ``low`` and ``high`` when given."""

    def read(value: str | None) -> int:
        number = int(text(value))
        if (low is not None and number < low) or (high is not None and number > high):
            raise ValueError(f"between {low} and {high}")
        return number

    return read


def number(value: str | None) -> float:
    """A number (``/throttle/rateLimit``)."""
    return float(text(value))


def choice(*allowed: str) -> Reader:
    """A reader of one of ``allowed`` (an enum's values)."""

    def read(value: str | None) -> str:
        if value not in allowed:
            raise ValueError("one of " + ", ".join(allowed))
        return value

    return read


# -- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Field:
    """A member set whole, at a path of one or more segments.

    ``Field(path="/name")``; ``Field(path="/throttle/rateLimit", read=number)`` (the
    ``throttle`` object is made when missing); ``Field(path="/endpointConfiguration/types/0")``
    (a segment of digits indexes a list). ``remove`` drops the member.
    """

    #: The member's path.
    path: str
    #: The ops accepted.
    ops: frozenset[Op] = frozenset({Op.REPLACE})
    #: How the patch's value is read.
    read: Reader = text

    def shown(self) -> str:
        """The path, as the list of valid paths shows it."""
        return self.path

    def accepts(self, segments: Sequence[str]) -> bool:
        """Whether ``segments`` is this member's path."""
        return list(segments) == pointer(self.path)

    def apply(
        self, document: dict[str, Any], op: Op, segments: Sequence[str], raw: str | None
    ) -> None:
        """Set (``add``, ``replace``) or remove the member in ``document``."""
        if op is Op.REMOVE:
            _remove(document, segments)
        else:
            _set(document, segments, _read(self.read, raw, segments))


@dataclass(frozen=True, kw_only=True, slots=True)
class Entry:
    """One entry of a map, its key the path's last segment: ``/requestTemplates/{key}``.

    A map left empty by ``remove`` is dropped, as API Gateway then stops answering it.
    """

    #: The map's path.
    path: str
    #: What its keys are, as the list of valid paths shows them.
    key: str = "name"
    #: The ops accepted.
    ops: frozenset[Op] = EDITS
    #: How the patch's value is read.
    read: Reader = text

    def shown(self) -> str:
        """The path, as the list of valid paths shows it."""
        return f"{self.path}/{{{self.key}}}"

    def accepts(self, segments: Sequence[str]) -> bool:
        """Whether ``segments`` names an entry of this map."""
        prefix = pointer(self.path)
        return len(segments) == len(prefix) + 1 and list(segments[:-1]) == prefix

    def apply(
        self, document: dict[str, Any], op: Op, segments: Sequence[str], raw: str | None
    ) -> None:
        """Set or remove the entry in ``document``."""
        *parents, name = segments
        entries = dict(_at(document, parents) or {})
        if op is Op.REMOVE:
            entries.pop(name, None)
        else:
            entries[name] = _read(self.read, raw, segments)
        _set_or_drop(document, parents, entries)


@dataclass(frozen=True, kw_only=True, slots=True)
class Item:
    """One item of a list: named by the path's last segment (``/binaryMediaTypes/{item}``)
    or, with ``by_value``, by the value (``/authorizationScopes`` with ``"value": "x"``).

    ``add`` appends an item not there yet (an item named by the path needs no value);
    ``remove`` takes it out; ``replace`` (items named by the path) takes the item named out
    and appends the value, as API Gateway does. A list left empty is dropped.
    """

    #: The list's path.
    path: str
    #: Whether the item is the value (else the path's last segment).
    by_value: bool = False
    #: The ops accepted.
    ops: frozenset[Op] = frozenset({Op.ADD, Op.REMOVE})
    #: How an item is read (from the path's segment or the value).
    read: Reader = text
    #: What makes two items the same one (``apiStages``: their API and stage).
    identity: Callable[[Any], Any] = field(default=lambda item: item)

    def shown(self) -> str:
        """The path, as the list of valid paths shows it."""
        return self.path if self.by_value else f"{self.path}/{{item}}"

    def accepts(self, segments: Sequence[str]) -> bool:
        """Whether ``segments`` names this list (or one of its items)."""
        prefix = pointer(self.path)
        if self.by_value:
            return list(segments) == prefix
        return len(segments) == len(prefix) + 1 and list(segments[:-1]) == prefix

    def apply(
        self, document: dict[str, Any], op: Op, segments: Sequence[str], raw: str | None
    ) -> None:
        """Add, remove or replace the item in ``document``'s list."""
        parents = pointer(self.path)
        named = _read(self.read, raw if self.by_value else segments[-1], segments)
        items = list(_at(document, parents) or [])
        kept = [item for item in items if self.identity(item) != self.identity(named)]
        if op is Op.ADD:
            kept = items if len(kept) < len(items) else [*items, named]
        elif op is Op.REPLACE:
            kept.append(_read(self.read, raw, segments))
        _set_or_drop(document, parents, kept)


#: One documented path of an Update* operation.
Rule = Field | Entry | Item


def apply_patch(
    document: Mapping[str, Any],
    operations: Sequence[PatchOperation],
    rules: Sequence[Rule],
) -> dict[str, Any]:
    """``document`` after ``operations``, each on a path one of ``rules`` accepts (a copy;
    ``document`` is left as it was)."""
    result: dict[str, Any] = copy.deepcopy(dict(document))
    for operation in operations:
        segments = pointer(operation.path)
        rule = _rule(rules, operation, segments)
        op, raw = operation.op, operation.value
        if op in (Op.COPY, Op.MOVE):
            # copy: replace at path with what is at from; move: and remove it there.
            source = pointer(operation.from_ or "")
            raw = source_value(result, operation)
            if op is Op.MOVE:
                removal = PatchOperation(op=Op.REMOVE, path=operation.from_ or "")
                _rule(rules, removal, source).apply(result, Op.REMOVE, source, None)
            op = Op.REPLACE if Op.REPLACE in rule.ops else Op.ADD
        rule.apply(result, op, segments, raw)
    return result


# -- helpers ---------------------------------------------------------------------------------


def _rule(rules: Sequence[Rule], operation: PatchOperation, segments: list[str]) -> Rule:
    """The rule of the operation's path; BadRequest if none, or if it refuses the op."""
    found = next((rule for rule in rules if rule.accepts(segments)), None)
    # API Gateway's own words, the two spaces after "path" included.
    if found is None:
        shown = ", ".join(rule.shown() for rule in rules)
        raise BadRequest(
            f"Invalid patch path  '{operation.path}' specified for op '{operation.op}'. "
            f"Must be one of: [{shown}]"
        )
    if operation.op not in found.ops:
        raise BadRequest(
            f"Invalid patch path  '{operation.path}' specified for op '{operation.op}'. "
            "Please choose supported operations"
        )
    return found


def _read(read: Reader, raw: str | None, segments: Sequence[str]) -> Any:
    try:
        return read(raw)
    except (TypeError, ValueError) as exc:
        path = "/" + "/".join(segments)
        raise BadRequest(f"Invalid patch value '{raw}' specified for '{path}': {exc}") from None


def _at(document: Any, segments: Sequence[str]) -> Any:
    """The value at ``segments`` in ``document``, ``None`` if there is none."""
    found = document
    for part in segments:
        found = _child(found, part)
        if found is None:
            return None
    return found


def _set(document: dict[str, Any], segments: Sequence[str], value: Any) -> None:
    """Set the value at ``segments``, making the objects (or lists) on the way."""
    container: Any = document
    for index, part in enumerate(segments[:-1]):
        child = _child(container, part)
        if child is None:
            child = [] if segments[index + 1].isdigit() else {}
            _put(container, part, child)
        container = child
    _put(container, segments[-1], value)


def _remove(document: dict[str, Any], segments: Sequence[str]) -> None:
    """Remove the value at ``segments``, if there is one."""
    container = _at(document, segments[:-1])
    last = segments[-1]
    if isinstance(container, dict):
        container.pop(last, None)
    elif isinstance(container, list) and last.isdigit() and int(last) < len(container):
        del container[int(last)]


def _set_or_drop(document: dict[str, Any], segments: Sequence[str], value: Any) -> None:
    if value:
        _set(document, segments, value)
    else:
        _remove(document, segments)


def _child(container: Any, part: str) -> Any:
    if isinstance(container, Mapping):
        return container.get(part)
    if isinstance(container, list) and part.isdigit() and int(part) < len(container):
        return container[int(part)]
    return None


def _put(container: Any, part: str, value: Any) -> None:
    if isinstance(container, list):
        if not part.isdigit() or int(part) > len(container):
            raise BadRequest(f"Invalid list index {part}")
        if int(part) == len(container):
            container.append(value)
        else:
            container[int(part)] = value
    else:
        container[part] = value
