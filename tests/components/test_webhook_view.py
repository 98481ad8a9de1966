"""The readings view: pages of the meterlog, argument checks, an unavailable store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import time

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.meterit.metering import MeterlogRow, StoreUnavailableError
from custom_components.meterit.shared_store import async_get_store
from custom_components.meterit.webhook.view import READINGS_VIEW_URL

from .webhook_common import Client, hour_ago, post_json

pytestmark = pytest.mark.usefixtures("instant_publish")


async def test_readings_view_pages_newest_first(
    hass: HomeAssistant,
    client: Client,
    hass_client: Callable[[], Awaitable[Client]],
) -> None:
    base = hour_ago()
    for i in range(5):
        body = {"watts": 100 + i, "station_id": 1 + i % 2, "time": base + i}
        status, _ = await post_json(client, body)
        assert status == 200
    unauthenticated = await client.get(READINGS_VIEW_URL)
    assert unauthenticated.status == 401
    authed = await hass_client()
    response = await authed.get(READINGS_VIEW_URL, params={"limit": "2", "offset": "1"})
    assert response.status == 200
    page = await response.json()
    assert [r["watts"] for r in page["readings"]] == [103.0, 102.0]
    assert page["readings"][0]["time"] == datetime.fromtimestamp(base + 3, UTC).isoformat()
    station = await (await authed.get(READINGS_VIEW_URL, params={"station_id": "2"})).json()
    assert [r["watts"] for r in station["readings"]] == [103.0, 101.0]
    everything = await (await authed.get(READINGS_VIEW_URL)).json()
    assert len(everything["readings"]) == 5
    # each reading sent with its own time: ``sent`` is that time (none was moved back)
    readings = everything["readings"]
    assert [r["sent"] for r in readings] == [r["time"] for r in readings]

    # ``sent`` as the sensor sent it: null when taken on arrival, ahead when moved back
    ahead = float(int(time.time())) + 5
    bodies: list[dict[str, float]] = [
        {"watts": 7, "station_id": 3},
        {"watts": 8, "station_id": 4, "time": ahead},
    ]
    for body in bodies:
        status, _ = await post_json(client, body)
        assert status == 200
    for station_id, sent in (("3", None), ("4", datetime.fromtimestamp(ahead, UTC).isoformat())):
        page = await (await authed.get(READINGS_VIEW_URL, params={"station_id": station_id})).json()
        [reading] = page["readings"]
        assert reading["sent"] == sent
        assert reading["time"] != sent
    for params, field in (
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"station_id": "a b"}, "station_id"),
    ):
        bad = await authed.get(READINGS_VIEW_URL, params=params)
        assert bad.status == 400
        assert (await bad.json())["field"] == field


async def test_readings_view_store_unavailable(
    hass: HomeAssistant,
    hook: MockConfigEntry,
    hass_client: Callable[[], Awaitable[Client]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = await async_get_store(hass)

    def broken(*_args: object) -> list[MeterlogRow]:
        raise StoreUnavailableError("disk gone")

    monkeypatch.setattr(store, "query_readings", broken)
    response = await (await hass_client()).get(READINGS_VIEW_URL)
    assert response.status == 503
    assert (await response.json())["error"] == "store_unavailable"


async def test_readings_view_takes_ascii_digits_only(
    hass: HomeAssistant, hook: MockConfigEntry, hass_client: Callable[[], Awaitable[Client]]
) -> None:
    """``str.isdigit`` also takes '²' or Arabic-Indic digits (``int`` refuses the first and
    reads the second), and any number of them: each is a 400 naming the argument."""
    authed = await hass_client()
    for name, text in (
        ("limit", "²"),
        ("offset", "¹"),
        ("limit", "١٢"),
        ("offset", "9" * 5_000),
        ("offset", "1" * 13),
        ("limit", "+5"),
        ("limit", " 5"),
        ("limit", ""),
    ):
        response = await authed.get(READINGS_VIEW_URL, params={name: text})
        assert response.status == 400, (name, text)
        answer = await response.json()
        assert (answer["error"], answer["field"]) == ("invalid_request", name), answer
    response = await authed.get(READINGS_VIEW_URL, params={"limit": "0005", "offset": "0"})
    assert response.status == 200
    assert (await response.json())["limit"] == 5
