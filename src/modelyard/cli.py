"""The ``modelyard`` command line: run the platform or the model server, manage models."""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import orjson
import typer
from pydantic import SecretStr, ValidationError
from rich.markup import escape
from rich.table import Table

from modelyard.cli_auth import HomeCredentials, fetch_token
from modelyard.cli_client import (
    CREDENTIALS_FILE,
    HomeOption,
    ServerOption,
    check,
    connect,
    console,
    err_console,
    payload_bytes,
    write_server_file,
)
from modelyard.cli_jobs import jobs_app, workflows_app
from modelyard.cli_pipeline import pipeline_app
from modelyard.cli_training import train_app
from modelyard.config import Settings, is_loopback

__all__ = ["app", "main"]

app = typer.Typer(help="modelyard: many ML models behind one API.", no_args_is_help=True)
models_app = typer.Typer(help="Manage the models of a running server.", no_args_is_help=True)
app.add_typer(models_app, name="models")
endpoints_app = typer.Typer(help="See the endpoints of a running platform.", no_args_is_help=True)
app.add_typer(endpoints_app, name="endpoints")
functions_app = typer.Typer(
    help="Register, list, invoke and delete the functions of a running platform.",
    no_args_is_help=True,
)
app.add_typer(functions_app, name="functions")
app.add_typer(workflows_app, name="workflows")
app.add_typer(jobs_app, name="jobs")
app.add_typer(train_app, name="train")
app.add_typer(pipeline_app, name="pipeline")


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


def _settings(**overrides: Any) -> Settings:
    """The settings of the environment with the command's options over them, validated
    as a whole (``--host 0.0.0.0`` with ``MODELYARD_AUTH=off`` is refused); a setting that
    is not valid exits with code 2 and pydantic's words for it, not a traceback."""
    try:
        settings = Settings()
        top = {k: v for k, v in overrides.items() if v is not None and k in Settings.model_fields}
        serving = {
            k: v
            for k, v in overrides.items()
            if v is not None and k in type(settings.serving).model_fields
        }
        if serving:
            top["serving"] = settings.serving.model_copy(update=serving)
        return Settings(**top) if top else settings
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            err_console.print(
                f"{where}: {error['msg']}", markup=False, highlight=False, soft_wrap=True
            )
        raise typer.Exit(2) from None


def _guarded(settings: Settings) -> tuple[Settings, str | None]:
    """The settings with a management token when the server listens beyond loopback.

    Returns the token when it was generated here (to be printed once), else None.
    """
    if settings.serving.management_token is not None or is_loopback(settings.host):
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
        if settings.auth == "on":
            credentials = (settings.home / CREDENTIALS_FILE).resolve()
            console.print(
                f"  Credentials              export AWS_SHARED_CREDENTIALS_FILE={credentials}",
                markup=False,
                highlight=False,
            )
            console.print(
                f"  Bearer token             modelyard token --home {settings.home}",
                markup=False,
                highlight=False,
            )
        else:
            console.print("  Auth                     off (MODELYARD_AUTH=off, loopback only)")
        console.print(f"  SageMaker API (boto3)    endpoint_url={base}")
        console.print(
            f"  Lambda API (boto3)       endpoint_url={base}; functions: {base}/functions"
        )
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

    # No management token is generated here: with auth on (the only choice beyond
    # loopback) model management needs an administrator's token of the identity area.
    settings = _settings(
        home=home, host=host, port=port, workers=workers, memory_budget_mb=memory_budget_mb
    )
    platform = build_platform(settings)
    example = "iris" if "iris" in asyncio.run(platform.model_names()) else None
    run(
        platform.app,
        settings.host,
        settings.port,
        on_started=lambda: _started(settings, example),
        http=settings.http,
    )


def _started(settings: Settings, example: str | None) -> None:
    write_server_file(settings.home, settings.host, settings.port)
    _announce(settings, "is up", example)


@app.command()
def token(server: ServerOption = None, home: HomeOption = None) -> None:
    """Print an access token of the home's administrator, for `Authorization: Bearer`."""
    settings = Settings()
    credentials = HomeCredentials.read((home or settings.home) / CREDENTIALS_FILE)
    if credentials is None:
        err_console.print(
            f"no credentials in {(home or settings.home) / CREDENTIALS_FILE}: the first "
            "`modelyard up` on a home writes them",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)
    with connect(server, home) as client:
        found = fetch_token(client, credentials)
    if found is None:
        err_console.print("the server refused the credentials' username and password")
        raise typer.Exit(1)
    sys.stdout.write(found + "\n")


# -- client commands ---------------------------------------------------------------------


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
    with connect(server) as client:
        if all_models:
            rows = check(client.post("/v2/repository/index", json={}))
            table = Table("model", "state", "reason")
            for row in rows:
                table.add_row(row["name"], row["state"], row.get("reason", ""))
            console.print(table)
            return
        names = []
        token = None
        while True:
            params = {"max_results": 100} | ({"next_page_token": token} if token else {})
            page = check(client.get("/models", params=params))
            names += [m["modelName"] for m in page["models"]]
            token = page.get("nextPageToken")
            if not token:
                break
        table = Table("model", "state", "memory MiB", "load s", "idle s", "pinned", "error")
        for name in names:
            info = check(client.get(f"/models/{name}"))
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
    with connect(server) as client:
        console.print_json(orjson.dumps(check(client.get(f"/models/{name}"))).decode())


@models_app.command("load")
def load_model(
    name: str,
    url: Annotated[str | None, typer.Option(help="Artifact to register under NAME")] = None,
    server: ServerOption = None,
) -> None:
    """Load a model now (from the store, or registered from --url)."""
    with connect(server) as client:
        if url:
            info = check(client.post("/models", json={"model_name": name, "url": url}))
        else:
            check(client.post(f"/v2/repository/models/{name}/load", json={}))
            info = check(client.get(f"/models/{name}"))
    console.print(
        f"[green]loaded[/] {name}: {_mib(info.get('memoryBytes'))} MiB "
        f"in {info.get('loadSeconds', 0):.3f} s"
    )


@models_app.command("unload")
def unload_model(name: str, server: ServerOption = None) -> None:
    """Unload a model from memory."""
    with connect(server) as client:
        check(client.delete(f"/models/{name}"))
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
    with connect(server) as client:
        response = client.post(f"/models/{name}/invoke", content=body, headers=headers)
    if response.status_code >= 400:
        check(response)
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
    with connect(server) as client:
        found = check(client.get("/admin/endpoints", params=params))["endpoints"]
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


def _environment(pairs: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` as a dict; a pair without ``=`` is a usage error."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        found[key] = value
    return found


@functions_app.command("register")
def register_function(
    name: str,
    handler: Annotated[str, typer.Argument(help="The callable: package.module:attr")],
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds an invocation may run \\[default: the server's "
            "MODELYARD_FUNCTIONS__DEFAULT_TIMEOUT_S, 3]"
        ),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option(help="Environment variable KEY=VALUE (repeatable)")
    ] = None,
    description: Annotated[str, typer.Option(help="What the function is for")] = "",
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """Register a function (or replace the registration of NAME); the server imports it."""
    body = {
        "name": name,
        "handler": handler,
        "timeout_s": timeout,
        "environment": _environment(env or []),
        "description": description,
    }
    with connect(server, home) as client:
        response = client.post("/functions", json=body)
        function = check(response)
    verb = "registered" if response.status_code == 201 else "replaced"
    console.print(
        f"[green]{verb}[/] {escape(function['name'])}: {escape(function['handler'])}, "
        f"timeout {function['timeout_s']:g} s",
        highlight=False,
    )


@functions_app.command("list")
def list_functions(server: ServerOption = None, home: HomeOption = None) -> None:
    """List the registered functions."""
    with connect(server, home) as client:
        found = check(client.get("/functions"))["functions"]
    table = Table("function", "handler", "timeout s", "environment", "description")
    for function in found:
        table.add_row(
            escape(function["name"]),
            escape(function["handler"]),
            f"{function['timeout_s']:g}",
            escape(", ".join(sorted(function["environment"]))),
            escape(function["description"]),
        )
    console.print(table)


@functions_app.command("invoke")
def invoke_function(
    name: str,
    payload: Annotated[
        str | None, typer.Option(help="The event: JSON, or @FILE, or - for stdin \\[default: {}]")
    ] = None,
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """Invoke a function and print its result (its error on stderr, exit code 1)."""
    body = payload_bytes(payload)
    path = f"/2015-03-31/functions/{quote(name, safe='')}/invocations"
    with connect(server, home) as client:
        response = client.post(path, content=body)
    if response.status_code >= 400:
        check(response)
    if "x-amz-function-error" in response.headers:
        error = response.json()
        err_console.print(
            f"[red]{escape(error.get('errorType', 'Error'))}[/] {escape(error.get('errorMessage', ''))}"
        )
        for frame in error.get("stackTrace") or []:
            err_console.print(frame.rstrip(), markup=False, highlight=False)
        raise typer.Exit(1)
    sys.stdout.write(response.text)
    if not response.text.endswith("\n"):
        sys.stdout.write("\n")


@functions_app.command("delete")
def delete_function(name: str, server: ServerOption = None, home: HomeOption = None) -> None:
    """Delete a function."""
    with connect(server, home) as client:
        check(client.delete(f"/functions/{name}"))
    console.print(f"[green]deleted[/] {escape(name)}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()
