"""Request paths to resources and methods, with API Gateway's precedence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.gateway.definitions import Method, Resource, RestApi
from modelyard.gateway.routing import RouteTable

PATHS = {
    "/": ["GET"],
    "/pets": ["GET", "POST"],
    "/pets/{petId}": ["GET", "DELETE"],
    "/pets/mine": ["GET"],
    "/pets/{petId}/toys": ["ANY"],
    "/files/{proxy+}": ["GET"],
    "/files/readme": ["GET"],
    "/predicted-ratings/{user_id}": ["GET"],
}


def api(paths: dict[str, list[str]]) -> RestApi:
    resources = {
        f"r{number}": Resource(
            id=f"r{number}",
            path=path,
            resource_methods={m: Method(http_method=m) for m in methods},
        )
        for number, (path, methods) in enumerate(paths.items())
    }
    return RestApi(
        id="api",
        name="t",
        created_date=datetime.now(UTC),
        root_resource_id="r0",
        resources=resources,
    )


TABLE = RouteTable(api(PATHS))


@pytest.mark.parametrize(
    ("method", "path", "resource", "parameters"),
    [
        ("GET", "/", "/", {}),
        ("GET", "/pets", "/pets", {}),
        ("POST", "/pets/", "/pets", {}),
        ("GET", "/pets/42", "/pets/{petId}", {"petId": "42"}),
        ("GET", "/pets/mine", "/pets/mine", {}),  # the literal wins over {petId}
        ("DELETE", "/pets/mine", None, None),  # /pets/mine has no DELETE: no fallback to {petId}
        ("PATCH", "/pets/7/toys", "/pets/{petId}/toys", {"petId": "7"}),  # ANY
        ("GET", "/files/a/b/c.txt", "/files/{proxy+}", {"proxy": "a/b/c.txt"}),
        ("GET", "/files/readme", "/files/readme", {}),
        ("GET", "/files", None, None),  # {proxy+} needs a segment
        ("GET", "/predicted-ratings/u%201", "/predicted-ratings/{user_id}", {"user_id": "u 1"}),
        ("GET", "/nowhere", None, None),
        ("PUT", "/pets", None, None),
    ],
)
def test_a_request_reaches_the_most_specific_resource(
    method: str, path: str, resource: str | None, parameters: dict[str, str] | None
) -> None:
    found = TABLE.match(method, path)

    if resource is None:
        assert found is None
    else:
        assert found is not None
        assert (found.resource.path, dict(found.path_parameters)) == (resource, parameters)


SEGMENT = st.sampled_from(["a", "b", "c", "{x}", "{y}"])


@given(st.lists(st.lists(SEGMENT, min_size=1, max_size=4), min_size=1, max_size=8))
def test_every_literal_path_reaches_its_own_resource(paths: list[list[str]]) -> None:
    literal = sorted({"/" + "/".join(p) for p in paths if not any("{" in s for s in p)})
    table = RouteTable(api({"/": ["GET"], **{path: ["GET"] for path in literal}}))

    for path in literal:
        found = table.match("GET", path)
        assert found is not None and found.resource.path == path
