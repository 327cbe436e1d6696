"""A request refused at one of the gateway's steps, and the gateway response it gets.

Any step may raise :class:`Refused` with the gateway response type to answer (a missing
route is ``MISSING_AUTHENTICATION_TOKEN``, a failed validation ``BAD_REQUEST_BODY``...);
:func:`render_refusal` answers it with the API's customised gateway response of that type,
else API Gateway's default, its templates rendered with the request's ``$context`` and
``$context.error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelyard.errors import ModelyardError
from modelyard.gateway.deployed import DeployedApi
from modelyard.gateway.messages import GatewayAnswer
from modelyard.gateway.responses import ResponseType, render_error
from modelyard.gateway.routing import Match
from modelyard.gateway.vtl import RequestData, render

__all__ = ["Refused", "render_refusal"]


class Refused(ModelyardError):
    """A request refused at one of the gateway's steps, with the response type to answer."""

    def __init__(
        self, response_type: ResponseType, message: str | None = None, **error: Any
    ) -> None:
        super().__init__(message if message is not None else response_type.default_message)
        self.response_type = response_type
        #: Extra ``$context.error`` members (``validationErrorString``).
        self.error = error


def render_refusal(
    deployed: DeployedApi,
    refused: Refused,
    headers: Mapping[str, list[str]],
    query: Mapping[str, list[str]],
    match: Match | None,
    variables: Mapping[str, str],
    context: Mapping[str, Any],
) -> GatewayAnswer:
    """The answer to ``refused``: its gateway response in ``deployed``, rendered for the
    request (``headers`` and ``query`` with every value of each name; ``match`` None when
    no route matched). A ``status`` in ``refused.error`` overrides the response's."""
    response = deployed.responses.resolve(refused.response_type)
    forced = refused.error.pop("status", None)
    error_context = {**context, "error": dict(refused.error)}
    data = RequestData(
        body=b"",
        path=match.path_parameters if match else {},
        querystring={name: values[0] for name, values in query.items()},
        multi_querystring=query,
        headers={name: values[-1] for name, values in headers.items()},
    )

    def template(text: str, render_context: Mapping[str, Any]) -> str:
        return render(text, request=data, context=render_context, stage_variables=variables).text

    status, out_headers, body = render_error(
        response,
        message=refused.message,
        request_headers={name: values[-1] for name, values in headers.items()},
        query={name: values[-1] for name, values in query.items()},
        path=dict(match.path_parameters) if match else {},
        stage_variables=variables,
        context=error_context,
        render_template=template,
    )
    return GatewayAnswer(status=int(forced or status), headers=out_headers, body=body)
