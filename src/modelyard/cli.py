"""The ``modelyard`` command line: run the platform or the model server, manage models."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelyard.config import Settings

__all__ = ["app", "main"]

app = typer.Typer(help="modelyard: many ML models behind one API.", no_args_is_help=True)
models_app = typer.Typer(help="Manage the models of a running server.", no_args_is_help=True)
app.add_typer(models_app, name="models")
endpoints_app = typer.Typer(help="See the endpoints of a running platform.", no_args_is_help=True)
app.add_typer(endpoints_app, name="endpoints")

console = Console()
err_console = Console(stderr=True)

# Help texts are rich markup, where a bare "[...]" is a tag and vanishes: hence "\\[".
HostOption = Annotated[
    str | None,
    typer.Option(
        help="Address to listen on \\[env: MODELYARD_HOST, default 127.0.0.1]; beyond "
        "loopback, model management needs a token (see MODELYARD_SERVING__MANAGEMENT_TOKEN)"
    ),
]
PortOption = Annotated[
    int | None, typer.Option(help="Port to listen on \\[env: MODELYARD_PORT, default 8080]")
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        help="Model worker processes \\[env: MODELYARD_SERVING__WORKERS, default one per core]"
    ),
]
BudgetOption = Annotated[
    float | None,
    typer.Option(
        help="Memory budget of loaded models, MiB \\[env: MODELYARD_SERVING__MEMORY_BUDGET_MB]"
    ),
]
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        # "\\[": help is rich markup, where a bare "[...]" is a tag and vanishes.
        help="URL of the running server \\[default: from MODELYARD_HOST/PORT]; requests "
        "carry the bearer token in MODELYARD_SERVING__MANAGEMENT_TOKEN when it is set",
    ),
]


def _settings(**overrides: Any) -> Settings:
    settings = Settings()
    top = {k: v for k, v in overrides.items() if v is not None and k in Settings.model_fields}
    serving = {
        k: v
        for k, v in overrides.items()
        if v is not None and k in type(settings.serving).model_fields
    }
    if serving:
        top["serving"] = settings.serving.model_copy(update=serving)
    return settings.model_copy(update=top)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _guarded(settings: Settings) -> tuple[Settings, str | None]:
    """The settings with a management token when the server listens beyond loopback.

    Returns the token when it was generated here (to be printed once), else None.
    """
    if settings.serving.management_token is not None or _is_loopback(settings.host):
        return settings, None
    token = secrets.token_urlsafe(32)
    serving = settings.serving.model_copy(update={"management_token": SecretStr(token)})
    return settings.model_copy(update={"serving": serving}), token


def _announce(settings: Settings, what: str, example: str | None, token: str | None = None) -> None:
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold green]modelyard[/] {what} on [link={base}]{base}[/link]")
    console.print(f"  SageMaker container API  {base}/models, {base}/invocations")
    console.print(f"  KServe V2                {base}/v2")
    console.print(f"  Multi Model Server       {base}/predictions/{{model}}")
    if what == "is up":
        console.print(f"  SageMaker API (boto3)    endpoint_url={base}")
    console.print(f"  Metrics, OpenAPI         {base}/metrics, {base}/openapi.json")
    if example:
        console.print("  Try:")
        console.print(
            f"    curl -s {base}/models/{example}/invoke -H 'Content-Type: text/csv' "
            "-d '5.1,3.5,1.4,0.2'"
        )
    if token is not None:
        # Printed once, here: the only place it is ever shown.
        console.print(
            "  Model management (POST /models, DELETE, V2 load/unload) needs this token, "
            "generated because the server listens beyond loopback:",
            markup=False,
        )
        console.print(f"    Authorization: Bearer {token}", markup=False, highlight=False)
        console.print(
            f"    export MODELYARD_SERVING__MANAGEMENT_TOKEN={token}   # for `modelyard models`",
            markup=False,
            highlight=False,
        )
    console.print("Press Ctrl+C to stop.")


@app.command()
def serve(
    model_store: Annotated[
        Path, typer.Option(help="Folder of models: NAME/ folders or NAME.tar.gz archives")
    ],
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = None,
    memory_budget_mb: BudgetOption = None,
    preload: Annotated[
        list[str] | None, typer.Option(help="Model to load at start (repeatable)")
    ] = None,
    pin: Annotated[list[str] | None, typer.Option(help="Model never evicted (repeatable)")] = None,
) -> None:
    """Run the model server alone over a model store (like the SageMaker MME container)."""
    from modelyard.listener import run
    from modelyard.platform import build_model_server

    if not model_store.is_dir():
        err_console.print(f"[red]model store {model_store} is not a folder[/]")
        raise typer.Exit(2)
    settings, token = _guarded(
        _settings(
            host=host,
            port=port,
            workers=workers,
            memory_budget_mb=memory_budget_mb,
            preload=preload,
            pinned=pin,
        )
    )
    names = sorted(p.name.removesuffix(".tar.gz") for p in model_store.iterdir())
    example = names[0] if names else None
    run(
        build_model_server(settings, model_store.resolve()).app,
        settings.host,
        settings.port,
        on_started=lambda: _announce(settings, "model server", example, token),
        http=settings.http,
    )


@app.command()
def up(
    home: Annotated[
        Path | None,
        typer.Option(help="State folder \\[env: MODELYARD_HOME, default ./.modelyard]"),
    ] = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = None,
    memory_budget_mb: BudgetOption = None,
) -> None:
    """Run the platform on its embedded default: SQLite and a local folder in the home."""
    from modelyard.listener import run
    from modelyard.platform import build_platform

    settings, token = _guarded(
        _settings(
            home=home, host=host, port=port, workers=workers, memory_budget_mb=memory_budget_mb
        )
    )
    platform = build_platform(settings)
    example = "iris" if "iris" in asyncio.run(platform.model_names()) else None
    run(
        platform.app,
        settings.host,
        settings.port,
        on_started=lambda: _announce(settings, "is up", example, token),
        http=settings.http,
    )


# -- client commands ---------------------------------------------------------------------


#: How long a client command waits for the server (a first load can take minutes).
CLIENT_TIMEOUT_S = 300.0


@contextmanager
def _client(server: str | None) -> Iterator[httpx.Client]:
    """An HTTP client of the server, for the ``with`` block of one client command.

    It carries the management token when one is set, and it is the one place where a
    server that cannot be reached becomes one line on stderr and exit code 1, not a
    traceback: every request of the block goes through it.
    """
    settings = Settings()
    if server is None:
        server = f"http://{settings.host}:{settings.port}"
    token = settings.serving.management_token
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
    try:
        with httpx.Client(base_url=server, headers=headers, timeout=CLIENT_TIMEOUT_S) as client:
            yield client
    except httpx.TransportError as exc:
        # soft_wrap: one line however narrow the terminal; no markup: the reason is not ours.
        err_console.print(
            _unreachable(server.rstrip("/"), exc), soft_wrap=True, markup=False, highlight=False
        )
        raise typer.Exit(1) from None


def _unreachable(server: str, exc: httpx.TransportError) -> str:
    """What went wrong between us and ``server``, in one line for a human."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"cannot reach {server}: no connection within {CLIENT_TIMEOUT_S:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"{server} did not answer within {CLIENT_TIMEOUT_S:g} s"
    if isinstance(exc, httpx.ConnectError | httpx.UnsupportedProtocol):
        return f"cannot reach {server}: {_reason(exc)}"
    return f"lost the connection to {server}: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
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


def _check(response: httpx.Response) -> Any:
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


def _mib(value: Any) -> str:
    return f"{value / 2**20:.1f}" if isinstance(value, int | float) else "-"


@models_app.command("list")
def list_models(
    server: ServerOption = None,
    all_models: Annotated[
        bool, typer.Option("--all", help="Every model in the store, loaded or not")
    ] = False,
) -> None:
    """List models: the loaded ones with their state, memory and load time."""
    with _client(server) as client:
        if all_models:
            rows = _check(client.post("/v2/repository/index", json={}))
            table = Table("model", "state", "reason")
            for row in rows:
                table.add_row(row["name"], row["state"], row.get("reason", ""))
            console.print(table)
            return
        names = []
        token = None
        while True:
            params = {"max_results": 100} | ({"next_page_token": token} if token else {})
            page = _check(client.get("/models", params=params))
            names += [m["modelName"] for m in page["models"]]
            token = page.get("nextPageToken")
            if not token:
                break
        table = Table("model", "state", "memory MiB", "load s", "idle s", "pinned", "error")
        for name in names:
            info = _check(client.get(f"/models/{name}"))
            table.add_row(
                name,
                info["state"],
                _mib(info.get("memoryBytes")),
                f"{info.get('loadSeconds') or 0:.3f}",
                str(info.get("lastUsedSecondsAgo") or "-"),
                "yes" if info.get("pinned") else "",
                info.get("error") or "",
            )
        console.print(table)


@models_app.command("show")
def show_model(name: str, server: ServerOption = None) -> None:
    """Show one model's state."""
    with _client(server) as client:
        console.print_json(orjson.dumps(_check(client.get(f"/models/{name}"))).decode())


@models_app.command("load")
def load_model(
    name: str,
    url: Annotated[str | None, typer.Option(help="Artifact to register under NAME")] = None,
    server: ServerOption = None,
) -> None:
    """Load a model now (from the store, or registered from --url)."""
    with _client(server) as client:
        if url:
            info = _check(client.post("/models", json={"model_name": name, "url": url}))
        else:
            _check(client.post(f"/v2/repository/models/{name}/load", json={}))
            info = _check(client.get(f"/models/{name}"))
    console.print(
        f"[green]loaded[/] {name}: {_mib(info.get('memoryBytes'))} MiB "
        f"in {info.get('loadSeconds', 0):.3f} s"
    )


@models_app.command("unload")
def unload_model(name: str, server: ServerOption = None) -> None:
    """Unload a model from memory."""
    with _client(server) as client:
        _check(client.delete(f"/models/{name}"))
    console.print(f"[green]unloaded[/] {name}")


@models_app.command("invoke")
def invoke_model(
    name: str,
    data: Annotated[str, typer.Option(help="Request body, or @FILE, or - for stdin")],
    content_type: Annotated[str, typer.Option(help="Content type of the body")] = (
        "application/json"
    ),
    accept: Annotated[str | None, typer.Option(help="Accepted response type")] = None,
    server: ServerOption = None,
) -> None:
    """Invoke a model and print its answer."""
    if data == "-":
        body = sys.stdin.buffer.read()
    elif data.startswith("@"):
        body = Path(data[1:]).read_bytes()
    else:
        body = data.encode()
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})
    with _client(server) as client:
        response = client.post(f"/models/{name}/invoke", content=body, headers=headers)
    if response.status_code >= 400:
        _check(response)
    sys.stdout.write(response.text)
    if not response.text.endswith("\n"):
        sys.stdout.write("\n")


@endpoints_app.command("list")
def list_endpoints(
    category: Annotated[
        str | None,
        typer.Option(help="Only endpoints whose `category` tag lists this (any case)"),
    ] = None,
    server: ServerOption = None,
) -> None:
    """List endpoints: status, variants and categories (the endpoint metadata registry)."""
    params = {"category": category} if category is not None else {}
    with _client(server) as client:
        found = _check(client.get("/admin/endpoints", params=params))["endpoints"]
    table = Table("endpoint", "status", "categories", "variants", "config")
    for endpoint in found:
        variants = ", ".join(
            f"{v['VariantName']} ({v['ModelName']}, weight {v['Weight']:g}, "
            f"{v['InstanceCount']} inst.)"
            for v in endpoint["Variants"]
        )
        table.add_row(
            escape(endpoint["EndpointName"]),
            endpoint["EndpointStatus"],
            escape(", ".join(endpoint["Categories"])),
            escape(variants),
            escape(endpoint["EndpointConfigName"]),
        )
    console.print(table)


def main() -> None:
    """Console-script entry point."""
    app()
