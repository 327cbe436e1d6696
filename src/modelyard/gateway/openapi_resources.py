"""The resource tree read from an OpenAPI document's paths: a resource per path segment.

Each path of the document is split into segments, each segment a resource under the one
before it (made when missing), and each operation of the path item a method of the last
one. Path parameters follow API Gateway's rules: one per level among siblings, a greedy
``{name+}`` only as the last segment. When merging, the tree starts from the base API's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from modelyard.gateway.definitions import Method, Resource
from modelyard.gateway.openapi_methods import MethodContext, read_method
from modelyard.gateway.openapi_reader import DocumentReader

__all__ = ["ANY_METHOD_EXTENSION", "HTTP_METHODS", "ResourceNode", "add_path", "resource_tree"]

#: The operation keys of a path item API Gateway serves (``trace`` it does not).
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
#: The path item key of an operation answering every method (the ``ANY`` method).
ANY_METHOD_EXTENSION = "x-amazon-apigateway-any-method"

_VARIABLE = re.compile(r"\{[A-Za-z0-9._-]+\+?\}")
_PATH_ITEM_MEMBERS = {"parameters", "summary", "description", "servers"}


@dataclass
class ResourceNode:
    """A resource while the tree is built: its methods are still being added."""

    #: The resource's id.
    id: str
    #: The parent resource's id; None for the root.
    parent_id: str | None
    #: The last segment of the path; None for the root.
    path_part: str | None
    #: The full path, ``/`` for the root.
    path: str
    #: HTTP method (``GET``, ``ANY``...) → method.
    methods: dict[str, Method] = field(default_factory=dict)

    def resource(self) -> Resource:
        """The finished resource."""
        return Resource(
            id=self.id,
            parent_id=self.parent_id,
            path_part=self.path_part,
            path=self.path,
            resource_methods=self.methods or None,
        )


def resource_tree(reader: DocumentReader, root_id: str) -> dict[str, ResourceNode]:
    """Path → node: the root alone, or the base's resources when merging."""
    base = reader.base
    nodes = {"/": ResourceNode(root_id, None, None, "/")}
    if reader.merging and base is not None:
        for r in base.resources.values():
            methods = dict(r.resource_methods or {})
            nodes[r.path] = ResourceNode(r.id, r.parent_id, r.path_part, r.path, methods)
    return nodes


def add_path(
    reader: DocumentReader,
    raw_path: str,
    item: Any,
    nodes: dict[str, ResourceNode],
    context: MethodContext,
) -> None:
    """Add the resources of ``raw_path`` to ``nodes``, and its path item's methods."""
    where = f"Path '{raw_path}'"
    segments = _segments(reader, raw_path)
    if segments is None:
        return
    item = reader.resolve(item, where)
    if item is None:
        return
    node = _node(reader, segments, nodes, where)
    if node is None:
        return
    shared = item.get("parameters", [])
    for key, operation in item.items():
        if key in HTTP_METHODS:
            http_method = key.upper()
        elif key == ANY_METHOD_EXTENSION:
            http_method = "ANY"
        else:
            if key == "trace":
                reader.warn(f"{where}: API Gateway has no TRACE method; ignored.")
            elif key.startswith("x-amazon-apigateway-"):
                reader.warn(f"{where}: {key} is not supported on a path; ignored.")
            elif key not in _PATH_ITEM_MEMBERS and not key.startswith("x-"):
                reader.warn(f"{where}: unknown member '{key}'; ignored.")
            continue
        method = read_method(reader, http_method, node.path, operation, shared, context)
        if method is not None:
            node.methods[http_method] = method


def _segments(reader: DocumentReader, raw_path: str) -> list[str] | None:
    where = f"Path '{raw_path}'"
    if not raw_path.startswith("/"):
        reader.warn(f"{where}: a path starts with '/'; ignored.")
        return None
    segments = raw_path.strip("/").split("/") if raw_path.strip("/") else []
    for index, segment in enumerate(segments):
        if not segment:
            reader.warn(f"{where}: empty path segment; ignored.")
            return None
        if "{" in segment or "}" in segment:
            if not _VARIABLE.fullmatch(segment):
                reader.warn(f"{where}: '{segment}' is not a path parameter; ignored.")
                return None
            if segment.endswith("+}") and index != len(segments) - 1:
                reader.warn(f"{where}: a greedy parameter must be the last segment; ignored.")
                return None
        elif any(c.isspace() for c in segment):
            reader.warn(f"{where}: whitespace in '{segment}'; ignored.")
            return None
    return segments


def _node(
    reader: DocumentReader, segments: list[str], nodes: dict[str, ResourceNode], where: str
) -> ResourceNode | None:
    """The node at ``segments``, made with its missing ancestors; None on a conflict."""
    node = nodes["/"]
    for index, segment in enumerate(segments):
        path = _join(node.path, segment)
        child = nodes.get(path)
        if child is None:
            # Only the first new segment can clash: deeper ones have no siblings yet.
            conflict = _sibling_variable(node, segment, nodes)
            if conflict is not None:
                reader.warn(
                    f"{where}: '{segment}' conflicts with '{conflict}' under "
                    f"'{node.path}' (one path parameter per level); ignored."
                )
                return None
            for part in segments[index:]:
                child = ResourceNode(reader.new_id(), node.id, part, _join(node.path, part))
                nodes[child.path] = child
                node = child
            return node
        node = child
    return node


def _sibling_variable(
    parent: ResourceNode, segment: str, nodes: dict[str, ResourceNode]
) -> str | None:
    if not segment.startswith("{"):
        return None
    for node in nodes.values():
        if node.parent_id == parent.id and (node.path_part or "").startswith("{"):
            return node.path_part
    return None


def _join(path: str, segment: str) -> str:
    return f"{path.rstrip('/')}/{segment}"
