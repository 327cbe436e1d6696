"""The ``modelyard`` command line: run the platform or the model server, manage models."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from modelyard.config import Settings

__all__ = ["app", "main"]

app = typer.Typer(help="modelyard: many ML models behind one API.", no_args_is_help=True)
models_app = typer.Typer(help="Manage the models of a running server.", no_args_is_help=True)
app.add_typer(models_app, name="models")

console = Console()
err_console = Console(stderr=True)

HostOption = Annotated[
    str | None, typer.Option(help="Address to listen on [env: MODELYARD_HOST, default 127.0.0.1]")
]
PortOption = Annotated[
    int | None, typer.Option(help="Port to listen on [env: MODELYARD_PORT, default 8080]")
]
WorkersOption = Annotated[
    int | None,
    typer.Option(help="Model worker processes [env: MODELYARD_SERVING__WORKERS, default 1]"),
]
BudgetOption = Annotated[
    float | None,
    typer.Option(
        help="Memory budget of loaded models, MiB [env: MODELYARD_SERVING__MEMORY_BUDGET_MB]"
    ),
]
ServerOption = Annotated[
    str | None,
    typer.Option("--server", help="URL of the running server [default: from MODELYARD_HOST/PORT]"),
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


def _announce(settings: Settings, what: str, example: str | None) -> None:
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold green]modelyard[/] {what} on [link={base}]{base}[/link]")
    console.print(f"  SageMaker container API  {base}/models, {base}/invocations")
    console.print(f"  KServe V2                {base}/v2")
    console.print(f"  Multi Model Server       {base}/predictions/{{model}}")
    if example:
        console.print("  Try:")
        console.print(
            f"    curl -s {base}/models/{example}/invoke -H 'Content-Type: text/csv' "
            "-d '5.1,3.5,1.4,0.2'"
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
    from modelyard.serving.server import build_app, run

    if not model_store.is_dir():
        err_console.print(f"[red]model store {model_store} is not a folder[/]")
        raise typer.Exit(2)
    settings = _settings(
        host=host,
        port=port,
        workers=workers,
        memory_budget_mb=memory_budget_mb,
        preload=preload,
        pinned=pin,
    )
    names = sorted(p.name.removesuffix(".tar.gz") for p in model_store.iterdir())
    run(
        build_app(settings, model_store.resolve()),
        settings.host,
        settings.port,
        on_started=lambda: _announce(settings, "model server", names[0] if names else None),
    )


@app.command()
def up(
    home: Annotated[
        Path | None, typer.Option(help="State folder [env: MODELYARD_HOME, default ./.modelyard]")
    ] = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = None,
    memory_budget_mb: BudgetOption = None,
) -> None:
    """Run the platform on its embedded default: SQLite and a local folder in the home."""
    from modelyard.platform import build_platform
    from modelyard.serving.server import run

    settings = _settings(
        home=home, host=host, port=port, workers=workers, memory_budget_mb=memory_budget_mb
    )
    platform = build_platform(settings)
    example = "iris" if "iris" in platform.model_names() else None
    run(
        platform.app,
        settings.host,
        settings.port,
        on_started=lambda: _announce(settings, "is up", example),
    )


# -- client commands ---------------------------------------------------------------------


def _client(server: str | None) -> httpx.Client:
    if server is None:
        settings = Settings()
        server = f"http://{settings.host}:{settings.port}"
    return httpx.Client(base_url=server, timeout=300.0)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            message = response.json().get("message") or response.text
        except ValueError:
            message = response.text
        err_console.print(f"[red]{response.status_code}[/] {message}")
        raise typer.Exit(1)
    return response.json() if response.content else None


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


def main() -> None:
    """Console-script entry point."""
    app()
