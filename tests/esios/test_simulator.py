"""Tests of the fake ESIOS server itself (raw HTTP, no client)."""

from __future__ import annotations

import asyncio
from datetime import date
import json
from pathlib import Path

import aiohttp
import pytest

from simulator.esios import FakeEsios, Fault, _parse_args, _transform_indicator, run

from .conftest import TOKEN


async def test_requires_token_and_params(
    session: aiohttp.ClientSession, fake_esios: FakeEsios
) -> None:
    url = f"{fake_esios.base_url}/indicators/1001"
    async with session.get(url, params={"start_date": "2024-03-09T00:00"}) as response:
        assert response.status == 401
    headers = {"x-api-key": TOKEN}
    async with session.get(url, headers=headers) as response:
        assert response.status == 400
    async with session.get(
        f"{fake_esios.base_url}/indicators/abc",
        params={"start_date": "2024-03-09"},
        headers=headers,
    ) as response:
        assert response.status == 400
    async with session.get(f"{fake_esios.base_url}/archives/70/download_json") as response:
        assert response.status == 400
    assert [r.path for r in fake_esios.requests_to("/indicators")] == [
        "/indicators/1001",
        "/indicators/1001",
        "/indicators/abc",
    ]


async def test_geo_filter_and_custom_payloads(
    session: aiohttp.ClientSession, fake_esios: FakeEsios
) -> None:
    headers = {"x-api-key": TOKEN}
    params = {"start_date": "2024-03-09T00:00", "geo_ids[]": "8742"}
    async with session.get(
        f"{fake_esios.base_url}/indicators/1001", params=params, headers=headers
    ) as response:
        body = await response.json()
    assert {v["geo_id"] for v in body["indicator"]["values"]} == {8742}
    assert len(body["indicator"]["values"]) == 24

    fake_esios.add_indicator(600, date(2024, 1, 1), {"indicator": {"id": 600, "values": [1]}})
    fake_esios.add_public_file(date(2024, 1, 1), {"PVPC": "nonsense"})
    async with session.get(
        f"{fake_esios.base_url}/indicators/600",
        params={"start_date": "2024-01-01T00:00"},
        headers=headers,
    ) as response:
        assert (await response.json())["indicator"]["values"] == [1]
    fake_esios.inject(Fault.PARTIAL)
    async with session.get(
        f"{fake_esios.base_url}/archives/70/download_json", params={"date": "2024-01-01"}
    ) as response:
        assert await response.json() == {"PVPC": "nonsense"}


def test_transform_leaves_odd_payloads_alone() -> None:
    assert _transform_indicator([1], {8741}, Fault.EMPTY) == [1]
    odd = {"indicator": {"values": "x"}}
    assert _transform_indicator(odd, set(), Fault.EMPTY) is odd
    partial = _transform_indicator(
        {"indicator": {"values": [{"geo_id": 1}] * 15 + ["x"]}}, set(), Fault.PARTIAL
    )
    assert isinstance(partial, dict)
    assert len(partial["indicator"]["values"]) == 13


async def test_not_started(esios_dir: Path) -> None:
    fake = FakeEsios(esios_dir)
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.base_url
    await fake.stop()  # harmless


async def test_cli_run(
    socket_enabled: None, esios_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _parse_args(["--port", "0", "--fixtures", str(esios_dir), "--fault", "empty"])
    assert args.host == "127.0.0.1"
    stop = asyncio.Event()
    task = asyncio.create_task(run(args, stop))
    seen = False
    for _ in range(200):
        if "Fake ESIOS on http://127.0.0.1:" in capsys.readouterr().out:
            seen = True
            break
        await asyncio.sleep(0.01)
    stop.set()
    assert seen
    fake = await task
    assert fake.fault is Fault.EMPTY
    assert fake.port != 0
    defaults = _parse_args([])
    assert defaults.port == 8081
    assert json.loads(json.dumps(defaults.token)) == TOKEN
