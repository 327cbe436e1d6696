"""Which endpoints serve which categories: read again only when it may have changed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from modelyard.endpoints import EndpointService
from modelyard.endpoints.categories import Categorized, CategoryIndex
from modelyard.endpoints.traffic import LiveEndpoint, TrafficTable
from modelyard.storage import Database
from modelyard.storage.endpoints import EndpointStatus
from modelyard.storage.tags import ResourceType, Tag
from tests.endpoints.fakes import FakeInvoker
from tests.endpoints.test_service import config, service_of, status_becomes


def test_an_answer_is_kept_until_the_table_or_the_tags_change_or_it_is_stale() -> None:
    table = TrafficTable()
    loads: list[float] = []

    def load() -> Categorized:
        loads.append(time.monotonic())
        return []

    index = CategoryIndex(table, load, stale_after_s=0.2)

    async def scenario() -> list[int]:
        counts = []
        for change in ("none", "none", "publish", "tags", "none", "withdraw", "wait"):
            if change == "publish":
                table.publish(LiveEndpoint(name="e", status=EndpointStatus.CREATING))
            elif change == "tags":
                index.tags_changed()
            elif change == "withdraw":
                table.withdraw("e")
            elif change == "wait":
                await asyncio.sleep(0.25)
            await index.categorized()
            counts.append(len(loads))
        return counts

    assert asyncio.run(scenario()) == [1, 1, 2, 3, 3, 4, 5]


def test_the_service_answers_what_it_just_changed(tmp_path: Path) -> None:
    """Statuses and tags written here show at once, though answers are kept."""
    database = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    database.migrate()

    async def scenario() -> list[list[tuple[str, EndpointStatus, tuple[str, ...]]]]:
        service: EndpointService = service_of(database, FakeInvoker())
        await service.start()
        seen = []

        async def look() -> None:
            found = await service.categorized_endpoints()
            seen.append([(e.name, e.status, categories) for e, categories in found])

        try:
            await look()
            await config(service, "cfg", ("main", "m", 1.0, 1))
            await service.create_endpoint(
                name="e", config_name="cfg", tags=[Tag(key="category", value="nlp, vision")]
            )
            await status_becomes(service, "e", EndpointStatus.IN_SERVICE)
            await look()
            arn = service.arns.of(ResourceType.ENDPOINT, "e")
            await service.add_tags(arn, [Tag(key="category", value="audio")])
            await look()
            await service.delete_tags(arn, ["category"])
            await look()
        finally:
            await service.stop()
        return seen

    try:
        assert asyncio.run(scenario()) == [
            [],
            [("e", EndpointStatus.IN_SERVICE, ("nlp", "vision"))],
            [("e", EndpointStatus.IN_SERVICE, ("audio",))],
            [],
        ]
    finally:
        database.close()
