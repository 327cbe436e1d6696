"""The front door of the platform's ASGI application: inference requests skip the router.

Starlette's middleware stack and router cost about 25 µs a request, as much as the
rest of the HTTP process's work on an inference; the inference routes are most of the
traffic. :class:`FastLane` matches the few hot routes by their path's fixed prefix and
suffix (``/v2/models/`` … ``/infer``) and calls their endpoint directly with a
``Request``, exactly as the router would (path parameters set, the same endpoint
function, so the same protocol rendering of errors); every other request goes on to
the router unchanged. It sits inside Starlette's ``ServerErrorMiddleware``, so an
unexpected error is answered by the application's handler as any other; a client going
away is answered by ``on_disconnect``, as the application's handler for it would.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["FastLane", "Lane"]

logger = logging.getLogger(__name__)

#: An exception handler, as the application's (``Platform``'s) are.
Handler = Callable[[Request, Exception], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Lane:
    """One hot route: ``POST <prefix>{name}<suffix>`` (or exactly ``prefix`` when no name)."""

    #: The path before the name.
    prefix: str
    #: The path after it.
    suffix: str
    #: Whether the path has a ``{name}`` (else it is exactly ``prefix``).
    named: bool
    #: The route's endpoint: a Starlette request handler.
    endpoint: Callable[[Request], Awaitable[Response]]

    @classmethod
    def of(cls, route: Route) -> Lane:
        """The lane of a Starlette ``route`` whose path is fixed or has one ``{name}``."""
        path = route.path
        if "{name}" in path:
            prefix, _, suffix = path.partition("{name}")
            if "{" in prefix or "{" in suffix:
                raise ValueError(f"a lane takes one {{name}} parameter, not {path!r}")
            return cls(prefix=prefix, suffix=suffix, named=True, endpoint=route.endpoint)
        if "{" in path:
            raise ValueError(f"a lane takes one {{name}} parameter, not {path!r}")
        return cls(prefix=path, suffix="", named=False, endpoint=route.endpoint)

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if ``path`` is this lane's, else None."""
        if not self.named:
            return {} if path == self.prefix else None
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)):
            return None
        name = path[len(self.prefix) : len(path) - len(self.suffix)]
        if not name or "/" in name:
            return None  # not this route's (a versioned V2 path, say): the router decides
        return {"name": name}


class FastLane:
    """ASGI middleware: ``POST`` requests on a lane go straight to its endpoint."""

    def __init__(self, app: ASGIApp, lanes: Sequence[Lane], on_disconnect: Handler) -> None:
        self.app = app
        self._lanes = tuple(lanes)
        self._on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for lane in self._lanes:
                params = lane.match(path)
                if params is not None:
                    scope["path_params"] = params
                    await self._serve(lane, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, lane: Lane, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await lane.endpoint(request)
        except ClientDisconnect as exc:
            response = await self._on_disconnect(request, exc)
        await response(scope, receive, send)
