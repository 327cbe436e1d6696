"""Media types: parsing ``Content-Type`` values and choosing a response type from ``Accept``.

Matching is case-insensitive on type and subtype and ignores parameters other than ``q``
(``text/csv; charset=utf-8`` is ``text/csv``). Negotiation follows RFC 9110 §12.5.1: each
supported type takes the quality of the most specific media range that matches it, ``q=0``
excludes a type, and among equally acceptable types the most specifically named one wins,
then the server default, then the order of ``supported``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from modelyard.errors import NotAcceptable

__all__ = ["MediaRange", "media_type_of", "parse_accept", "select_media_type"]


class MediaRange(NamedTuple):
    """One entry of an ``Accept`` header, e.g. ``text/*;q=0.5``."""

    #: Type, lower case; ``*`` for any.
    type: str
    #: Subtype, lower case; ``*`` for any.
    subtype: str
    #: Quality between 0 and 1; 0 means "not acceptable".
    quality: float
    #: Position in the header, for stable ordering.
    position: int

    def specificity(self, media_type: str) -> int:
        """How specifically this range names ``media_type``: 2 exact, 1 ``type/*``, 0 ``*/*``, -1 no match."""
        type_, _, subtype = media_type.partition("/")
        if self.type == "*":
            return 0 if self.subtype == "*" else -1
        if self.type != type_:
            return -1
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == subtype else -1


def media_type_of(value: str) -> str:
    """Return the bare media type of a header value, lower case: ``Text/CSV; charset=x`` -> ``text/csv``."""
    return value.partition(";")[0].strip().lower()


def _quality(params: list[str]) -> float | None:
    """Return the ``q`` parameter (1.0 when absent), or None when it is not a valid qvalue."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return None
            # NaN fails both comparisons, so it is rejected too.
            return quality if 0.0 <= quality <= 1.0 else None
    return 1.0


def parse_accept(header: str) -> list[MediaRange]:
    """Parse an ``Accept`` header into media ranges; entries that do not parse are skipped.

    Skipping rather than failing follows what browsers and proxies expect: a stray token
    in a long Accept header should not turn a request into an error.
    """
    ranges: list[MediaRange] = []
    for position, entry in enumerate(header.split(",")):
        media, *params = entry.split(";")
        type_, slash, subtype = media.strip().lower().partition("/")
        if not slash or not type_ or not subtype or (type_ == "*" and subtype != "*"):
            continue
        quality = _quality(params)
        if quality is None:
            continue
        ranges.append(MediaRange(type_, subtype, quality, position))
    return ranges


def select_media_type(accept_header: str | None, default: str, supported: Sequence[str]) -> str:
    """Pick the best of ``supported`` for an ``Accept`` header, or raise ``NotAcceptable``.

    ``None``, an empty header and a bare ``*/*`` all mean "anything", so ``default`` is
    returned. ``default`` must be one of ``supported``.
    """
    default = media_type_of(default)
    if default not in supported:
        raise NotAcceptable(
            f"default content type {default!r} is not one of {', '.join(supported)}"
        )
    if accept_header is None or not accept_header.strip():
        return default
    ranges = parse_accept(accept_header)
    best: tuple[float, int, int, int] | None = None
    chosen = default
    for order, media_type in enumerate(supported):
        matches = [(r.specificity(media_type), r) for r in ranges]
        matches = [(s, r) for s, r in matches if s >= 0]
        if not matches:
            continue
        # The most specific range decides the quality (RFC 9110: "text/csv;q=0, */*"
        # excludes CSV even though */* matches it).
        specificity, match = max(matches, key=lambda m: (m[0], -m[1].position))
        if match.quality <= 0.0:
            continue
        rank = (match.quality, specificity, int(media_type == default), -order)
        if best is None or rank > best:
            best, chosen = rank, media_type
    if best is None:
        raise NotAcceptable(
            f"none of the accepted types {accept_header.strip()!r} is supported; "
            f"supported: {', '.join(supported)}"
        )
    return chosen
