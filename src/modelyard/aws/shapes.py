"""Request and response shapes of AWS JSON operations, as pydantic models.

Members are snake_case in Python and PascalCase on the wire (``EndpointName``), as the
service model names them. A request that breaks a constraint of the service model (a
required member missing, a name that does not match its pattern, a length, a range, an
enum) is refused with a ValidationException worded as AWS words it, naming the member::

    1 validation error detected: Value 'my endpoint' at 'endpointName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}

Timestamps travel as epoch seconds, as botocore sends and expects them for AWS JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    ValidationError,
)
from pydantic.alias_generators import to_pascal
from pydantic_core import ErrorDetails

from modelyard.aws.errors import InvalidParameter

__all__ = ["EpochSeconds", "Shape", "matching", "parse", "render"]

S = TypeVar("S", bound="Shape")


class Shape(BaseModel):
    """Base of every request and response shape: PascalCase on the wire, frozen."""

    model_config = ConfigDict(
        alias_generator=to_pascal,
        populate_by_name=True,
        # Members modelyard does not use (VpcConfig, KmsKeyId, ...) are accepted and ignored,
        # as boto3 may send any member the service model has.
        extra="ignore",
        frozen=True,
        # The service model's patterns use \p{...} classes, which Python's re lacks.
        regex_engine="rust-regex",
    )


def _epoch_seconds(moment: datetime) -> float:
    return round(moment.timestamp(), 3)


def _to_milliseconds(moment: datetime) -> datetime:
    # AWS timestamps have millisecond precision; an epoch float read back from a client
    # may be a few microseconds off (1.123 is 1.12299999...), so filters round to the
    # millisecond they meant.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    whole = moment.replace(microsecond=0)
    return whole + timedelta(milliseconds=round(moment.microsecond / 1000))


#: A timestamp: epoch seconds on the wire, to the millisecond (numbers are read as such).
EpochSeconds = Annotated[
    datetime,
    AfterValidator(_to_milliseconds),
    PlainSerializer(_epoch_seconds, return_type=float),
]


def matching(
    pattern: str, *, min_length: int | None = None, max_length: int | None = None
) -> StringConstraints:
    """String constraints: the service model's ``pattern`` matched in full, within lengths.

    >>> EndpointName = Annotated[str, matching(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", max_length=63)]
    """
    return StringConstraints(
        pattern=f"^(?:{pattern})$", min_length=min_length, max_length=max_length
    )


def parse(shape: type[S], body: Mapping[str, Any]) -> S:
    """The request ``body`` as ``shape``; InvalidParameter in AWS's words if it does not fit."""
    try:
        return shape.model_validate(body)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_url=False)]
        count = len(problems)
        plural = "error" if count == 1 else "errors"
        raise InvalidParameter(
            f"{count} validation {plural} detected: {'; '.join(problems)}"
        ) from None


def render(shape: Shape) -> dict[str, Any]:
    """The response body of ``shape``: PascalCase members, absent ones left out."""
    return shape.model_dump(by_alias=True, exclude_none=True, mode="json")


def _problem(error: ErrorDetails) -> str:
    where = _member_path(error["loc"])
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "missing":
        return f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
    value = _value_text(error.get("input"))
    if kind == "string_pattern_mismatch":
        pattern = str(context.get("pattern", ""))
        if pattern.startswith("^(?:") and pattern.endswith(")$"):
            pattern = pattern[4:-2]
        constraint = f"Member must satisfy regular expression pattern: {pattern}"
    elif kind in ("string_too_short", "too_short"):
        constraint = f"Member must have length greater than or equal to {context.get('min_length')}"
    elif kind in ("string_too_long", "too_long"):
        constraint = f"Member must have length less than or equal to {context.get('max_length')}"
    elif kind in ("greater_than_equal", "greater_than"):
        bound = context.get("ge", context.get("gt"))
        constraint = f"Member must have value greater than or equal to {bound}"
    elif kind in ("less_than_equal", "less_than"):
        bound = context.get("le", context.get("lt"))
        constraint = f"Member must have value less than or equal to {bound}"
    elif kind in ("enum", "literal_error"):
        allowed = re.findall(r"'([^']*)'", str(context.get("expected", "")))
        constraint = f"Member must satisfy enum value set: [{', '.join(allowed)}]"
    else:
        constraint = f"Member must be valid: {error['msg']}"
    return f"Value {value} at '{where}' failed to satisfy constraint: {constraint}"


def _member_path(loc: tuple[int | str, ...]) -> str:
    """AWS's spelling of a member's place: ``productionVariants.1.member.variantName``."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"{part + 1}.member")
        elif part:
            parts.append(part[:1].lower() + part[1:])
    return ".".join(parts) or "request"


def _value_text(value: object) -> str:
    if value is None:
        return "null"
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 100:
        text = text[:97] + "..."
    return f"'{text}'"
