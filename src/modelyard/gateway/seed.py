"""The example APIs of a home: each OpenAPI document of ``<home>/seed/apis`` imported once
and deployed to the stage ``prod`` at start (``make run`` puts the rating API there).

An API's id is its file's name up to the first dot (``ratings.oas30.json`` → ``ratings``),
so its URL is known beforehand: ``/restapis/ratings/prod/_user_request_/...``. An API of
that id that exists already is left as it is (change it with the ``apigateway`` API, or
delete it to have it seeded again); a document that cannot be imported is logged and
skipped, and the rest of the platform starts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from modelyard.errors import ModelyardError
from modelyard.gateway.errors import GatewayNotFound
from modelyard.gateway.service import GatewayService

__all__ = ["SEED_FOLDER", "STAGE", "GatewaySeed"]

logger = logging.getLogger(__name__)

#: The folder of the documents, in the home.
SEED_FOLDER: Final = "seed/apis"
#: The stage seeded APIs are deployed to.
STAGE: Final = "prod"
_SUFFIXES: Final = (".json", ".yaml", ".yml")


class GatewaySeed:
    """Imports and deploys the home's example APIs (see the module)."""

    def __init__(self, gateway: GatewayService, folder: Path) -> None:
        self._gateway = gateway
        self._folder = folder

    async def start(self) -> None:
        """Seed every document whose API does not exist yet."""
        if not self._folder.is_dir():
            return
        for path in sorted(self._folder.iterdir()):
            if path.suffix.lower() not in _SUFFIXES or not path.is_file():
                continue
            api_id = path.name.split(".")[0].lower()
            try:
                await self._gateway.get_rest_api(api_id)
                continue
            except GatewayNotFound:
                pass  # not seeded yet
            try:
                await self._gateway.import_rest_api(path.read_bytes(), api_id=api_id)
                await self._gateway.create_deployment(api_id, stage_name=STAGE)
            except (ModelyardError, OSError) as exc:
                logger.error("the example API %s was not seeded: %s", path, exc)
                continue
            logger.info("seeded the API %s from %s (stage %s)", api_id, path.name, STAGE)

    async def stop(self) -> None:
        """Nothing to release."""
