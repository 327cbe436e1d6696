"""The management token: who may register, load and unload models.

On SageMaker only the platform itself calls a container's management routes; here they
are reachable by anyone who reaches the port. So, like TorchServe after CVE-2023-43654,
when a token is set (``MODELYARD_SERVING__MANAGEMENT_TOKEN``, generated and printed at
start when the server listens beyond loopback) those routes need
``Authorization: Bearer <token>``. Inference and read-only routes stay open. The platform
(``modelyard up``) gives the routes its own :data:`Guard` instead (an administrator's token).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from pydantic import SecretStr
from starlette.requests import Request

from modelyard.errors import AccessDenied, AuthenticationRequired

__all__ = ["Guard", "management_guard"]

#: A check of a request to a guarded route: raises the domain error that refuses it (what it
#: answers, such as who called, is for routes that care).
Guard = Callable[[Request], Awaitable[object]]


def management_guard(token: SecretStr | None) -> Guard:
    """A check for management routes: raises unless the request carries ``token``."""
    if token is None:
        return _open
    expected = token.get_secret_value().encode()

    async def check(request: Request) -> None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationRequired(
                "this management operation needs 'Authorization: Bearer <token>' "
                "(the server's MODELYARD_SERVING__MANAGEMENT_TOKEN)"
            )
        if not hmac.compare_digest(value.strip().encode(), expected):
            raise AccessDenied("the management token is not valid")

    return check


async def _open(request: Request) -> None:
    return None
