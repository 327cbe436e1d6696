"""Adaptive batching of invocations: queued requests share one estimator call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.fixtures.models import counting_sklearn_model
from tests.serving.conftest import StartServer


def _calls(record: Path) -> list[int]:
    return [int(line) for line in record.read_text().split()] if record.exists() else []


async def _burst(url: str, bodies: list[tuple[bytes, str]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await asyncio.gather(
            *(
                client.post("/models/counting/invoke", content=body, headers={"content-type": ct})
                for body, ct in bodies
            )
        )


def test_queued_invocations_share_calls_and_a_bad_one_fails_alone(
    tmp_path: Path, start_server: StartServer
) -> None:
    record = tmp_path / "calls.txt"
    counting_sklearn_model(tmp_path / "store", record)
    url = start_server(tmp_path / "store")
    with httpx.Client(base_url=url) as client:  # load it first: the burst then queues
        csv = {"content-type": "text/csv"}
        assert client.post("/models/counting/invoke", content=b"1,1,1", headers=csv).json() == [3.0]
    bodies: list[tuple[bytes, str]] = []
    for i in range(60):
        if i == 17:
            bodies.append((b"1,two,3", "text/csv"))
        elif i % 2:
            bodies.append((f"{i},{i},{i}".encode(), "text/csv"))
        else:
            bodies.append((f"[[{i},{i},{i}]]".encode(), "application/json"))
    responses = asyncio.run(_burst(url, bodies))
    for i, response in enumerate(responses):
        if i == 17:
            assert response.status_code == 400
            assert "'two'" in response.json()["message"]
        else:
            assert response.status_code == 200, response.text
            assert response.json() == [3.0 * i]
    calls = _calls(record)[1:]
    assert sum(calls) == 59  # every good row exactly once; the bad request never got there
    assert len(calls) < 59  # some requests shared a call


def test_max_batch_size_caps_the_rows_of_a_call(tmp_path: Path, start_server: StartServer) -> None:
    record = tmp_path / "calls.txt"
    counting_sklearn_model(tmp_path / "store", record, max_batch_size=4)
    url = start_server(tmp_path / "store")
    bodies = [(f"{i},0,0".encode(), "text/csv") for i in range(40)]
    responses = asyncio.run(_burst(url, bodies))
    assert [r.json() for r in responses] == [[float(i)] for i in range(40)]
    assert max(_calls(record)) <= 4


def test_max_wait_gathers_requests_that_trickle_in(
    tmp_path: Path, start_server: StartServer
) -> None:
    record = tmp_path / "calls.txt"
    counting_sklearn_model(tmp_path / "store", record, max_wait_ms=300, max_batch_size=8)
    url = start_server(tmp_path / "store")

    async def trickle() -> list[httpx.Response]:
        csv = {"content-type": "text/csv"}
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            await client.post("/models/counting/invoke", content=b"0,0,0", headers=csv)

            async def later(i: int) -> httpx.Response:
                await asyncio.sleep(0.01 * i)
                return await client.post(
                    "/models/counting/invoke", content=f"{i},0,0".encode(), headers=csv
                )

            return await asyncio.gather(*(later(i) for i in range(8)))

    responses = asyncio.run(trickle())
    assert [r.json() for r in responses] == [[float(i)] for i in range(8)]
    # Without the wait each request would have gone alone, 10 ms apart.
    assert max(_calls(record)[1:]) > 1
