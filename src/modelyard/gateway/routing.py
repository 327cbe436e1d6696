"""Which resource and method of a deployed API a request path and method reach.

API Gateway matches a path segment by segment down the resource tree: a literal segment
(``pets``) before a path parameter (``{petId}``), and a greedy ``{proxy+}`` only when
nothing more specific matches, taking the rest of the path. A method not defined on the
resource falls back to its ``ANY`` method. :class:`RouteTable` is built once per
deployment and answers in time proportional to the path's depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from modelyard.gateway.definitions import Method, Resource, RestApi

__all__ = ["Match", "RouteTable"]


@dataclass(frozen=True, kw_only=True)
class Match:
    """Where a request landed."""

    #: The resource, its method, and the path parameters (decoded) the path gave.
    resource: Resource
    method: Method
    path_parameters: Mapping[str, str]


@dataclass
class _Node:
    resource: Resource | None = None
    literals: dict[str, _Node] = field(default_factory=dict)
    #: ``(name, node)`` of a ``{name}`` child.
    parameter: tuple[str, _Node] | None = None
    #: ``(name, node)`` of a ``{name+}`` child.
    greedy: tuple[str, _Node] | None = None


class RouteTable:
    """The resources of one API (a deployment's snapshot), ready to match requests."""

    def __init__(self, api: RestApi) -> None:
        self._root = _Node()
        for resource in api.resources.values():
            node = self._root
            for part in _segments(resource.path):
                node = _child(node, part)
            node.resource = resource

    def resource(self, path: str) -> tuple[Resource, dict[str, str]] | None:
        """The resource ``path`` reaches and its path parameters, or None."""
        found = _walk(self._root, _segments(path), {})
        if found is None or found[0].resource is None:
            return None
        return found[0].resource, found[1]

    def match(self, http_method: str, path: str) -> Match | None:
        """The method a request reaches, or None: no resource matches the path, or the
        resource has neither that method nor ``ANY`` (API Gateway answers both alike,
        403 Missing Authentication Token)."""
        found = self.resource(path)
        if found is None:
            return None
        resource, parameters = found
        methods = resource.resource_methods or {}
        method = methods.get(http_method.upper()) or methods.get("ANY")
        if method is None:
            return None
        return Match(resource=resource, method=method, path_parameters=parameters)


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _child(node: _Node, part: str) -> _Node:
    if part.startswith("{") and part.endswith("+}"):
        if node.greedy is None:
            node.greedy = (part[1:-2], _Node())
        return node.greedy[1]
    if part.startswith("{") and part.endswith("}"):
        if node.parameter is None:
            node.parameter = (part[1:-1], _Node())
        return node.parameter[1]
    return node.literals.setdefault(part, _Node())


def _walk(
    node: _Node, parts: list[str], parameters: dict[str, str]
) -> tuple[_Node, dict[str, str]] | None:
    """Depth first, literal before parameter before greedy: API Gateway's precedence."""
    if not parts:
        # A greedy {proxy+} needs at least one segment: it does not match here.
        return (node, parameters) if node.resource is not None else None
    head, rest = parts[0], parts[1:]
    literal = node.literals.get(head)
    if literal is not None:
        found = _walk(literal, rest, parameters)
        if found is not None:
            return found
    if node.parameter is not None:
        name, child = node.parameter
        found = _walk(child, rest, {**parameters, name: unquote(head)})
        if found is not None:
            return found
    if node.greedy is not None:
        name, child = node.greedy
        if child.resource is not None:
            return child, {**parameters, name: unquote("/".join(parts))}
    return None
