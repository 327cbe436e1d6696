"""The syntax of Step Functions intrinsic functions: ``States.Format('{}', $.a)`` as a call tree.

An intrinsic is written in the value of a JSONPath-mode ``.$`` field (``Parameters``,
``ItemSelector``, ``ResultSelector``, ``Assign``)::

    call      := "States." Name "(" [ argument ( "," argument )* ] ")"
    argument  := string | number | "true" | "false" | "null" | path | call
    string    := "'" ( character | "\\'" | "\\{" | "\\}" | "\\\\" )* "'"
    path      := "$" ... | "$$" ... | "$" variable ...

Whitespace may surround each argument. A backslash in a string may only escape one of
``'``, ``{``, ``}`` and ``\\``; any other backslash is an error. At most ten calls may appear
in one field. Only syntax is checked here: argument counts and types are checked when the
call runs, as Step Functions does (a wrong count fails the execution, not the definition).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, TypeAlias

from modelyard.workflows.errors import InvalidDefinition

__all__ = [
    "FORMAT",
    "FUNCTION_NAMES",
    "MAX_CALLS",
    "Arg",
    "Call",
    "FormatTemplate",
    "PathArg",
    "is_intrinsic",
    "parse",
]

#: The name of the one function whose literal first argument is a template.
FORMAT: Final = "States.Format"

#: Every intrinsic function Step Functions knows, as written (the names are case-sensitive).
FUNCTION_NAMES: Final = frozenset(
    {
        FORMAT,
        "States.StringToJson",
        "States.JsonToString",
        "States.Array",
        "States.ArrayPartition",
        "States.ArrayContains",
        "States.ArrayRange",
        "States.ArrayGetItem",
        "States.ArrayLength",
        "States.ArrayUnique",
        "States.Base64Encode",
        "States.Base64Decode",
        "States.Hash",
        "States.JsonMerge",
        "States.MathRandom",
        "States.MathAdd",
        "States.StringSplit",
        "States.UUID",
    }
)

#: "You can nest up to 10 intrinsic functions within a field" (the guide counts every call
#: in the field: its example with nine calls is "nine nested intrinsic functions").
MAX_CALLS: Final = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class PathArg:
    """A path argument, resolved against the state's data when the call runs."""

    #: The path exactly as written: ``$``, ``$.a.b[0]``, ``$$.Execution.Id``, ``$var.field``.
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FormatTemplate:
    """The literal template of a ``States.Format`` call, split at its ``{}`` placeholders."""

    #: The text around the placeholders, escapes resolved: one more piece than placeholders.
    pieces: tuple[str, ...]
    #: Why the template cannot be used (a lone, unescaped brace), or ``None``. Step Functions
    #: accepts such a definition and fails when the call runs, so this is kept, not raised.
    problem: str | None = None


#: An argument: a JSON literal (a ``str`` is always a string literal), a path or a nested call.
Arg: TypeAlias = "str | int | float | bool | PathArg | Call | None"


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One intrinsic function call: its name and its arguments, in order."""

    #: The function, with its prefix: ``States.Format``.
    name: str
    #: The arguments as written.
    args: tuple[Arg, ...]
    #: For ``States.Format`` with a literal first argument, that template with its escaped
    #: braces told apart from its placeholders (the decoded string alone cannot tell them).
    #: Derived from the text of ``args``, so left out of comparisons: a call equals the
    #: ``Call(name=..., args=...)`` written by hand.
    template: FormatTemplate | None = field(default=None, compare=False)


_CALL_START: Final = re.compile(r"States\.([A-Za-z0-9]+)\(")
# JSON's number grammar: "01", "1." and ".5" are not numbers.
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_KEYWORDS: Final[dict[str, bool | None]] = {"true": True, "false": False, "null": None}
_KEYWORD: Final = re.compile(r"true|false|null")
_VARIABLE: Final = re.compile(r"(?!\d)\w+")
_MEMBER: Final = re.compile(r"[^\s.,()\[\]'\"]+")
_WHITESPACE: Final = " \t\n\r"
_ESCAPABLE: Final = "'{}\\"
# What may follow a complete argument: anything else glued to it ("1a", "truex") is an error.
_ARGUMENT_END: Final = frozenset(_WHITESPACE + ",)")


def is_intrinsic(text: str) -> bool:
    """Tell whether ``text`` is written as an intrinsic call (``States.`` + name + ``(``).

    A true answer does not promise the call is valid: :func:`parse` says why it is not,
    including for names Step Functions does not know (``States.format(``).
    """
    return _CALL_START.match(text) is not None


@lru_cache(maxsize=4096)
def parse(expression: str) -> Call:
    """Parse an intrinsic call once; raise :class:`InvalidDefinition` naming what is wrong."""
    return _Parser(expression).parse()


class _Parser:
    """A recursive-descent parser over one expression; raises InvalidDefinition only."""

    __slots__ = ("calls", "pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.calls = 0

    def parse(self) -> Call:
        call = self._call()
        self._skip_whitespace()
        if self.pos != len(self.text):
            raise self._error("unexpected text after the call")
        return call

    def _error(self, problem: str) -> InvalidDefinition:
        return InvalidDefinition(
            f"Invalid intrinsic function call {self.text!r}: {problem} (at position {self.pos})"
        )

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_whitespace(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def _call(self) -> Call:
        match = _CALL_START.match(self.text, self.pos)
        if match is None:
            raise self._error("expected an intrinsic function call such as States.Format(...)")
        name = "States." + match.group(1)
        if name not in FUNCTION_NAMES:
            raise self._error(f"unknown intrinsic function {name}")
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise self._error(f"more than {MAX_CALLS} intrinsic functions in one field")
        self.pos = match.end()
        args: list[Arg] = []
        template: FormatTemplate | None = None
        self._skip_whitespace()
        if self._peek() == ")":
            self.pos += 1
            return Call(name=name, args=())
        while True:
            self._skip_whitespace()
            if name == FORMAT and not args and self._peek() == "'":
                value, template = self._string()
                args.append(value)
            else:
                args.append(self._argument())
            self._skip_whitespace()
            separator = self._peek()
            self.pos += 1
            if separator == ")":
                return Call(name=name, args=tuple(args), template=template)
            if separator != ",":
                self.pos -= 1
                raise self._error(f"expected ',' or ')' after argument {len(args)} of {name}")

    def _argument(self) -> Arg:
        char = self._peek()
        if char == "'":
            return self._string()[0]
        if char == "$":
            return self._path()
        if char == "S":
            return self._call()
        if char == "-" or char.isdigit():
            return self._number()
        keyword = _KEYWORD.match(self.text, self.pos)
        if keyword is not None:
            self.pos = keyword.end()
            self._expect_argument_end()
            return _KEYWORDS[keyword.group()]
        if char in ("", ",", ")"):
            raise self._error("expected an argument")
        raise self._error(f"unexpected character {char!r}")

    def _expect_argument_end(self) -> None:
        if self.pos < len(self.text) and self.text[self.pos] not in _ARGUMENT_END:
            raise self._error(f"unexpected character {self.text[self.pos]!r}")

    def _number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self._error("invalid number")
        self.pos = match.end()
        self._expect_argument_end()
        literal = match.group()
        if not any(char in literal for char in ".eE"):
            try:
                return int(literal)
            except ValueError:
                # Python refuses to convert integers of more than 4300 digits.
                raise self._error("number too long") from None
        number = float(literal)
        if not math.isfinite(number):
            raise self._error("number too large")
        return number

    def _string(self) -> tuple[str, FormatTemplate]:
        """Read a string literal: its value, and the same text read as a Format template."""
        text = self.text
        self.pos += 1
        value: list[str] = []
        pieces: list[str] = []
        piece: list[str] = []
        problem: str | None = None
        while True:
            if self.pos >= len(text):
                raise self._error("unterminated string literal")
            char = text[self.pos]
            if char == "'":
                self.pos += 1
                break
            if char == "\\":
                escaped = text[self.pos + 1 : self.pos + 2]
                if not escaped:
                    raise self._error("unfinished escape at the end of the text")
                if escaped not in _ESCAPABLE:
                    raise self._error(f"invalid escape '\\{escaped}' (only \\' \\{{ \\}} \\\\)")
                value.append(escaped)
                piece.append(escaped)
                self.pos += 2
                continue
            value.append(char)
            if char == "{" and text[self.pos + 1 : self.pos + 2] == "}":
                pieces.append("".join(piece))
                piece = []
                value.append("}")
                self.pos += 2
                continue
            if char in "{}" and problem is None:
                problem = f"the template has an unescaped '{char}' that is not part of {{}}"
            piece.append(char)
            self.pos += 1
        self._expect_argument_end()
        pieces.append("".join(piece))
        return "".join(value), FormatTemplate(pieces=tuple(pieces), problem=problem)

    def _path(self) -> PathArg:
        text = self.text
        start = self.pos
        self.pos += 1
        if self._peek() == "$":
            self.pos += 1
        else:
            variable = _VARIABLE.match(text, self.pos)
            if variable is not None:
                self.pos = variable.end()
        while self.pos < len(text) and text[self.pos] not in _ARGUMENT_END:
            char = text[self.pos]
            if char == "[":
                self._bracket()
            elif char == ".":
                self.pos += 1
                if self._peek() == ".":
                    self.pos += 1
                following = self._peek()
                if following == "[":
                    continue
                if following == "*":
                    self.pos += 1
                    continue
                member = _MEMBER.match(text, self.pos)
                if member is None:
                    raise self._error("expected a field name after '.' in a path")
                self.pos = member.end()
            else:
                raise self._error(f"unexpected character {char!r} in a path")
        return PathArg(path=text[start : self.pos])

    def _bracket(self) -> None:
        """Skip a ``[...]`` path segment, with its nested brackets and quoted names."""
        text = self.text
        opened = self.pos
        depth = 0
        while self.pos < len(text):
            char = text[self.pos]
            if char in "'\"":
                self._skip_quoted(char)
                continue
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
                if depth == 0:
                    if self.pos == opened + 1:
                        raise self._error("empty '[]' in a path")
                    self.pos += 1
                    return
            self.pos += 1
        self.pos = opened
        raise self._error("unclosed '[' in a path")

    def _skip_quoted(self, quote: str) -> None:
        text = self.text
        opened = self.pos
        self.pos += 1
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\\":
                self.pos += 2
                continue
            self.pos += 1
            if char == quote:
                return
        self.pos = opened
        raise self._error("unclosed quote in a path")
