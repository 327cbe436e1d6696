"""The whole platform on one machine: database, object store and the model server.

``modelyard up`` builds this. Later areas (endpoints, workflows, gateway) add their
routes and background runners here, over the same database and store.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette

from modelyard.config import Settings
from modelyard.serving.repository import ModelRepository, is_local_url
from modelyard.serving.server import build_app
from modelyard.storage.database import Database
from modelyard.storage.registrations import ModelRegistrations

__all__ = ["Platform", "build_platform"]


@dataclass(kw_only=True)
class Platform:
    """The assembled platform."""

    #: Settings it was built from.
    settings: Settings
    #: The database, migrated.
    database: Database
    #: The ASGI application serving every API.
    app: Starlette
    #: Where models are found.
    models_url: str

    def model_names(self) -> list[str]:
        """Models in the store (for the start-up banner)."""
        return ModelRepository(self.models_url, self.settings.cache_dir).names()


def build_platform(settings: Settings) -> Platform:
    """Create the home folder, migrate the database and build the application."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store_url = settings.resolved_store_url.rstrip("/")
    models_url = f"{store_url}/{settings.models_prefix}"
    if is_local_url(models_url):
        from pathlib import Path

        Path(models_url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    database.migrate()
    app = build_app(settings, models_url, registrations=ModelRegistrations(database))
    return Platform(settings=settings, database=database, app=app, models_url=models_url)
