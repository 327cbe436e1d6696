"""The fast lane matches exactly the routes it was built from, and leaves the rest alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, compile_path

from modelyard.fastlane import Lane


async def _endpoint(request: Request) -> Response:
    return Response(b"")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/models/lr/infer", {"name": "lr"}),
        ("/v2/models/lr/versions/1/infer", None),
        ("/v2/models//infer", None),
        ("/v2/models/lr/infer/", None),
        ("/v2/models/lr", None),
    ],
)
def test_a_named_lane(path: str, expected: dict[str, str] | None) -> None:
    lane = Lane.of(Route("/v2/models/{name}/infer", _endpoint, methods=["POST"]))
    assert lane.match(path) == expected


def test_an_exact_lane() -> None:
    lane = Lane.of(Route("/invocations", _endpoint, methods=["POST"]))
    assert lane.match("/invocations") == {}
    assert lane.match("/invocations/x") is None


@given(st.text(max_size=30))
def test_a_lane_agrees_with_starlettes_router(name: str) -> None:
    route = Route("/models/{name}/invoke", _endpoint, methods=["POST"])
    regex, _, _ = compile_path(route.path)
    path = f"/models/{name}/invoke"
    routed = regex.match(path)
    laned = Lane.of(route).match(path)
    assert (laned is not None) == (routed is not None)
    if routed is not None and laned is not None:
        assert laned["name"] == routed["name"]


def test_a_path_with_two_parameters_is_no_lane() -> None:
    with pytest.raises(ValueError, match="one"):
        Lane.of(Route("/predictions/{name}/{version}", _endpoint))
