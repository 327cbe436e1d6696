"""Fixtures of the functions tests: the service over a real database and real workers.

- ``run_service`` (function): ``run_service(scenario, **settings)`` runs
  ``await scenario(service)`` with a started :class:`FunctionService` (one worker unless
  ``workers=`` says otherwise) over a fresh SQLite database, stopped afterwards.
- ``shared_service`` (module): ``shared_service(scenario)`` runs it with one service of
  two workers and default settings that the module's tests share (started once, on an
  event loop of its own thread): for tests that need no settings of their own. Their
  functions' names must not collide.
- ``handler(name)``: the handler string of a toy function of ``tests/functions/handlers.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from modelyard.config import FunctionsSettings
from modelyard.functions import FunctionArns, FunctionService
from modelyard.storage import Database

T = TypeVar("T")

ARNS = FunctionArns(region="us-east-1", account_id="000000000000")

#: The module of the toy functions, as the workers import it.
HANDLERS = "tests.functions.handlers"

RunService = Callable[..., Any]


def handler(name: str) -> str:
    """``handler("add")`` -> ``"tests.functions.handlers:add"``."""
    return f"{HANDLERS}:{name}"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def run_service(database: Database) -> RunService:
    def run(scenario: Callable[[FunctionService], Awaitable[T]], **settings: Any) -> T:
        async def main() -> T:
            service = FunctionService(
                database=database,
                arns=ARNS,
                settings=FunctionsSettings(**{"workers": 1, **settings}),
            )
            await service.start()
            try:
                return await scenario(service)
            finally:
                await service.stop()

        return asyncio.run(main())

    return run


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunService]:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('shared') / 'modelyard.db'}")
    database.migrate()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    service = FunctionService(database=database, arns=ARNS, settings=FunctionsSettings(workers=2))

    def run(scenario: Callable[[FunctionService], Awaitable[T]]) -> T:
        return asyncio.run_coroutine_threadsafe(scenario(service), loop).result(timeout=120)

    asyncio.run_coroutine_threadsafe(service.start(), loop).result(timeout=60)
    try:
        yield run
    finally:
        asyncio.run_coroutine_threadsafe(service.stop(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        database.close()
