"""Exact cost in Home Assistant: a day of P1 pushes and a day of prices give cost statistics.

The day is 2026-03-29 in Madrid: 23 hours (summer time starts), with quarter-hour prices (ESIOS
publishes 15-minute periods since 2025-10-01), a two-hour outage and solar export at midday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import json
from pathlib import Path
import subprocess
import sys
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.components.recorder.statistics import get_metadata, statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.metering import Window
from custom_components.meterit.prices.coordinator import PriceCoordinator
from custom_components.meterit.shared_store import async_get_store
from simulator.esios import FakeEsios
from simulator.p1_meter import FakeP1Meter

from .conftest import (
    METER_SERIAL,
    p1_entry,
    prices_entry,
    setup_loaded,
    shifted_indicator,
    wait_for,
)
from .history_common import Clock, at, push, start

SERIES = f"p1:{METER_SERIAL}"
BASE = f"meterit:{METER_SERIAL}"
IMPORT_ID, EXPORT_ID = f"{BASE}_energy_import", f"{BASE}_energy_export"
COST_ID, COMPENSATION_ID = f"{BASE}_energy_import_cost", f"{BASE}_energy_export_compensation"
MADRID = ZoneInfo("Europe/Madrid")
DAY = date(2026, 3, 29)
DAY_START = datetime(2026, 3, 29, tzinfo=MADRID).timestamp()  # 23:00 UTC the day before
DAY_END = datetime(2026, 3, 30, tzinfo=MADRID).timestamp()  # 22:00 UTC: a 23-hour day
QUARTER = 900
TOOL = Path(__file__).resolve().parents[3] / "shared" / "tools" / "p1-trace"


def consumer_price(start: float) -> float:
    """The test's own consumer price (€/kWh) of the quarter-hour starting at ``start``."""
    k = int(start - DAY_START) // QUARTER
    return round(0.08 + 0.002 * (k % 48) + (0.05 if 17 <= k // 4 <= 20 else 0.0), 5)


def surplus_price(start: float) -> float:
    """The test's surplus price: lower, and negative for one midday hour."""
    k = int(start - DAY_START) // QUARTER
    return round(-0.01 if k // 4 == 13 else 0.04 + 0.001 * (k % 20), 5)


def quarter_hour_indicator(indicator: int, geo: tuple[int, str], price: Any) -> dict[str, Any]:
    """An ESIOS indicator answer with the day's quarter-hours, as ESIOS sends them (€/MWh)."""
    values = []
    for t in range(int(DAY_START), int(DAY_END), QUARTER):
        utc = datetime.fromtimestamp(t, UTC)
        values.append(
            {
                "value": round(price(t) * 1000, 2),
                "datetime": utc.astimezone(MADRID).isoformat(timespec="milliseconds"),
                "datetime_utc": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tz_time": utc.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "geo_id": geo[0],
                "geo_name": geo[1],
            }
        )
    return {
        "indicator": {
            "id": indicator,
            "tiempo": [{"name": "Quince minutos", "id": 218}],
            "geos": [{"geo_id": geo[0], "geo_name": geo[1]}],
            "values": values,
        }
    }


def trace(gap: str) -> list[dict[str, Any]]:
    """The day as p1-trace writes it, one push every 2 minutes, with an outage ``gap`` (UTC)."""
    if not TOOL.exists():
        pytest.skip("../shared/tools/p1-trace not found")
    start = datetime.fromtimestamp(DAY_START, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = subprocess.run(  # noqa: S603 - the shared tool, fixed arguments
        [
            sys.executable,
            str(TOOL),
            "--start",
            start,
            "--hours",
            "23.1",
            "--rate",
            str(1 / 120),
            "--seed",
            "7",
            "--gap",
            gap,
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def esios_day(esios: FakeEsios, fixtures_dir: Path) -> FakeEsios:
    """The fake ESIOS with today's prices (for the entry's setup) and the test day's."""
    today = datetime.now(MADRID).date()
    for indicator in (1001, 1739):
        payload = json.loads(
            (fixtures_dir / "esios" / f"PRICES_ESIOS_{indicator}_2024_03_09.json").read_text()
        )
        for offset in (0, 1):
            day = today + timedelta(days=offset)
            esios.add_indicator(
                indicator, day, shifted_indicator(payload, (day - date(2024, 3, 9)).days, 0)
            )
    esios.add_indicator(
        1001, DAY, quarter_hour_indicator(1001, (8741, "Península"), consumer_price)
    )
    esios.add_indicator(1739, DAY, quarter_hour_indicator(1739, (3, "España"), surplus_price))
    return esios


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from custom_components.meterit.p1 import history as history_module  # noqa: PLC0415

    moment = Clock(DAY_START)
    monkeypatch.setattr(history_module, "clock", moment)
    return moment


async def replay(
    hass: HomeAssistant, meter: FakeP1Meter, clock: Clock, lines: list[dict[str, Any]]
) -> MockConfigEntry:
    """Set the P1 entry up at the first push and push the rest through the fake meter."""
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    clock.t = lines[0]["t"]
    meter.measurement = {**meter.measurement, **lines[0]["data"]}
    await start(hass, entry)
    coordinator = entry.runtime_data
    for index, line in enumerate(lines[1:]):
        clock.t = line["t"]
        before = coordinator.pushes
        await meter.push({**meter.measurement, **line["data"]})
        await wait_for(lambda: coordinator.pushes > before)  # noqa: B023 - awaited here
        if index % 50 == 0:
            await hass.async_block_till_done()
    await hass.async_block_till_done()
    return entry


async def windows_of_day(hass: HomeAssistant) -> list[Window]:
    store = await async_get_store(hass)
    return await hass.async_add_executor_job(store.query_windows, SERIES, 300, DAY_START, DAY_END)


async def hourly(hass: HomeAssistant, *ids: str) -> dict[str, list[Any]]:
    await async_wait_recording_done(hass)
    return await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        at(DAY_START),
        at(DAY_END),
        set(ids),
        "hour",
        None,
        {"state", "sum"},
    )


def expected_costs(windows: list[Window]) -> tuple[dict[float, float], dict[float, float]]:
    """Per hour: window import kWh * its quarter's price, and the same for export."""
    cost: dict[float, float] = {}
    compensation: dict[float, float] = {}
    for w in windows:
        hour = w.start - w.start % 3600
        quarter = w.start - (w.start - DAY_START) % QUARTER
        cost[hour] = cost.get(hour, 0.0) + (w.energy_import_kwh or 0.0) * consumer_price(quarter)
        compensation[hour] = compensation.get(hour, 0.0) + (
            w.energy_export_kwh or 0.0
        ) * surplus_price(quarter)
    return cost, compensation


async def get_prices(hass: HomeAssistant, kind: str) -> int:
    response = await hass.services.async_call(
        DOMAIN, "get_prices", {"start": DAY.isoformat(), "kind": kind}, True, return_response=True
    )
    assert isinstance(response, dict)
    prices = response["prices"]
    assert isinstance(prices, list)
    return len(prices)


async def test_a_day_with_an_outage_costs_each_window_at_its_quarter_hours_price(
    hass: HomeAssistant,
    meter: FakeP1Meter,
    esios_day: FakeEsios,
    madrid: None,
    clock: Clock,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """Prices arrive after the day (asked for with get_prices): the windows are priced then,
    and the cost statistics equal the windows' kWh * price hour by hour, outage hours included."""
    await setup_loaded(hass, prices_entry(), PriceCoordinator)
    lines = trace("10:00-12:00")
    entry = await replay(hass, meter, clock, lines)
    statistics = entry.runtime_data.history.statistics
    assert statistics is not None

    windows = await windows_of_day(hass)
    assert any(w.synthetic for w in windows)  # the outage was gap-filled
    first, last = lines[0]["data"], next(x for x in reversed(lines) if x["t"] < DAY_END)["data"]
    assert sum(w.energy_import_kwh or 0 for w in windows) == pytest.approx(
        last["energy_import_kwh"] - first["energy_import_kwh"], abs=1e-6
    )
    # no prices for the day yet: unknown, not 0 €
    before = await hourly(hass, COST_ID)
    assert before.get(COST_ID, []) == []
    sensor = hass.states.get("sensor.p1_meter_energy_import_cost")
    assert sensor is not None
    assert sensor.state == "unknown" or float(sensor.attributes["unpriced_kwh"]) > 0

    assert await get_prices(hass, "consumer") == 92  # 23 hours of quarter-hours
    assert await get_prices(hass, "surplus") == 92
    # the stored prices price the windows (in the background), and their hours are imported
    await wait_for(
        lambda: (
            statistics.costs is not None
            and statistics.costs.unpriced.windows == 0
            and statistics.dirty_from is None
        )
    )
    await hass.async_block_till_done()

    cost, compensation = expected_costs(windows)
    stats = await hourly(hass, COST_ID, COMPENSATION_ID, IMPORT_ID)
    hours = [row["start"] for row in stats[IMPORT_ID]]
    assert len(hours) == 23
    assert [row["start"] for row in stats[COST_ID]] == hours
    total = 0.0
    for row in stats[COST_ID]:
        total += cost[row["start"]]
        assert row["state"] == pytest.approx(cost[row["start"]], abs=1e-9)
        assert row["sum"] == pytest.approx(total, abs=1e-9)
    paid = {row["start"]: row["state"] for row in stats[COMPENSATION_ID]}
    assert paid == pytest.approx({h: v for h, v in compensation.items() if h in paid}, abs=1e-9)
    assert any(v > 0 for v in paid.values())
    # each hour's cost is its energy at that hour's prices: never an average price
    for row, energy in zip(stats[COST_ID], stats[IMPORT_ID], strict=True):
        assert row["state"] <= energy["state"] * 0.2  # the dearest quarter costs < 0.2 €/kWh

    totals = statistics.costs
    assert totals is not None
    assert totals.unpriced.windows == 0
    await push(hass, clock, entry, meter, lines[-1]["t"] + 30)  # the sensor follows on a push
    state = hass.states.get("sensor.p1_meter_energy_import_cost")
    assert state is not None
    assert float(state.state) == pytest.approx(totals.import_cost)

    # the energy dashboard takes the statistics as a grid source, and finds nothing to report
    assert await async_setup_component(hass, "energy", {})
    client = await hass_ws_client(hass)
    grid = {
        "type": "grid",
        "stat_energy_from": IMPORT_ID,
        "stat_cost": COST_ID,
        "stat_energy_to": EXPORT_ID,
        "stat_compensation": COMPENSATION_ID,
        "cost_adjustment_day": 0,
    }
    await client.send_json_auto_id({"type": "energy/save_prefs", "energy_sources": [grid]})
    saved = await client.receive_json()
    assert saved["success"], saved
    await client.send_json_auto_id({"type": "energy/validate"})
    validation = await client.receive_json()
    assert validation["success"]
    assert validation["result"]["energy_sources"] == [[]]
    metadata = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={COST_ID, COMPENSATION_ID})
    )
    assert {m["unit_of_measurement"] for _, m in metadata.values()} == {"EUR"}
