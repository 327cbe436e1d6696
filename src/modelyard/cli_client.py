"""What the client commands of ``modelyard`` share: the HTTP client of a running server.

One place turns a server that cannot be reached into one line on stderr and exit code 1,
an error answer into its message, and proves who calls (``cli_auth.py``): with the home's
credentials, or the management token when one is set.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from modelyard.cli_auth import HomeCredentials, PlatformAuth
from modelyard.config import Settings

__all__ = [
    "CLIENT_TIMEOUT_S",
    "SERVER_FILE",
    "HomeOption",
    "ServerOption",
    "check",
    "connect",
    "console",
    "err_console",
    "payload_bytes",
    "server_of_home",
    "write_server_file",
]

#: Where ``modelyard up`` says, in its home, where it listens.
SERVER_FILE = "server.json"
#: Where the first ``modelyard up`` on a home writes an administrator's credentials.
CREDENTIALS_FILE = "credentials"

console = Console()
err_console = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Home of the running server (`modelyard up --home`): reach the server that "
        "runs on it, instead of --server",
    ),
]
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        # "\\[": help is rich markup, where a bare "[...]" is a tag and vanishes.
        help="URL of the running server \\[default: from MODELYARD_HOST/PORT]; requests "
        "carry the credentials of the home (--home, MODELYARD_HOME), or the token in "
        "MODELYARD_SERVING__MANAGEMENT_TOKEN when it is set",
    ),
]


#: How long a client command waits for the server (a first load can take minutes).
CLIENT_TIMEOUT_S = 300.0


@contextmanager
def connect(server: str | None, home: Path | None = None) -> Iterator[httpx.Client]:
    """An HTTP client of the server, for the ``with`` block of one client command.

    The server is ``server``, else the one running on ``home`` (``modelyard up`` writes
    where it listens in ``<home>/server.json``), else the settings' host and port. It
    proves who calls with the credentials of ``home`` (else of the settings' home) or the
    management token, and it is the one place where a server that cannot be reached
    becomes one line on stderr and exit code 1, not a traceback: every request of the
    block goes through it.
    """
    settings = Settings()
    if server is None and home is not None:
        server = server_of_home(home)
    if server is None:
        server = f"http://{settings.host}:{settings.port}"
    token = settings.serving.management_token
    auth = PlatformAuth(
        HomeCredentials.read((home or settings.home) / CREDENTIALS_FILE),
        management_token=token.get_secret_value() if token else None,
        region=settings.region,
    )
    try:
        with httpx.Client(base_url=server, auth=auth, timeout=CLIENT_TIMEOUT_S) as client:
            yield client
    except httpx.TransportError as exc:
        # soft_wrap: one line however narrow the terminal; no markup: the reason is not ours.
        err_console.print(
            unreachable(server.rstrip("/"), exc), soft_wrap=True, markup=False, highlight=False
        )
        raise typer.Exit(1) from None


def write_server_file(home: Path, host: str, port: int) -> None:
    """Say in ``<home>/server.json`` where the server of ``home`` listens."""
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in reachable:
        reachable = f"[{reachable}]"
    (home / SERVER_FILE).write_text(
        json.dumps({"url": f"http://{reachable}:{port}", "pid": os.getpid()}) + "\n"
    )


def server_of_home(home: Path) -> str:
    """The URL of the server running on ``home``; exit 1 saying so when none has run."""
    try:
        return str(json.loads((home / SERVER_FILE).read_text())["url"])
    except (OSError, ValueError, KeyError, TypeError):
        err_console.print(
            f"no server has run on {home}: start one with `modelyard up --home {home}`",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1) from None


def unreachable(server: str, exc: httpx.TransportError) -> str:
    """What went wrong between us and ``server``, in one line for a human."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"cannot reach {server}: no connection within {CLIENT_TIMEOUT_S:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"{server} did not answer within {CLIENT_TIMEOUT_S:g} s"
    if isinstance(exc, httpx.ConnectError | httpx.UnsupportedProtocol):
        return f"cannot reach {server}: {reason(exc)}"
    return f"lost the connection to {server}: {reason(exc)}"


def reason(exc: BaseException) -> str:
    """The operating system's words for a transport error ("connection refused"), if any.

    httpx wraps httpcore's error, which wraps the socket's OSError; the OSError's strerror
    is short and familiar, where str() of the outer ones reads "[Errno 111] Connection
    refused" or is empty.
    """
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror[:1].lower() + cause.strerror[1:]
        cause = cause.__cause__ or cause.__context__
    text = str(exc).strip()
    return (text[:1].lower() + text[1:]) if text else type(exc).__name__


def check(response: httpx.Response) -> Any:
    """The JSON answer of a successful request; one line on stderr and exit 1 otherwise."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
        if response.status_code < 400:
            err_console.print(
                f"{response.request.url} answered {response.status_code} with a body that is "
                "not JSON: is it a modelyard server?",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None
    if response.status_code >= 400:
        found = body.get("message") or body.get("error") if isinstance(body, dict) else None
        message = str(found or response.text)
        err_console.print(f"[red]{response.status_code}[/] {escape(message)}")
        raise typer.Exit(1)
    return body


def payload_bytes(payload: str | None) -> bytes:
    if payload is None:
        return b""
    if payload == "-":
        return sys.stdin.buffer.read()
    if payload.startswith("@"):
        return Path(payload[1:]).read_bytes()
    return payload.encode()
