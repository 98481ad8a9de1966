"""The history query (action and HTTP view) and the hwLogger import action."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
import io
from pathlib import Path
import sqlite3
from typing import Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.history.view import HISTORY_VIEW_URL
from custom_components.meterit.metering import MeterStore, Window
from custom_components.meterit.metering.hwlogger import HWLOGGER_COLUMNS
from custom_components.meterit.p1 import history as history_module
from custom_components.meterit.p1.history import MeterHistory
from simulator.p1_meter import FakeP1Meter

from .common import import_hwlogger
from .conftest import METER_SERIAL, p1_entry, wait_for

SERIES = f"p1:{METER_SERIAL}"
IMPORT_ID = f"meterit:{METER_SERIAL}_energy_import"
DAY = datetime(2026, 6, 21, tzinfo=UTC).timestamp()
NOW = DAY + 86_400


def five_min(k: int, wh: int = 50, count: int = 300) -> Window:
    start = DAY + k * 300
    return Window(
        SERIES,
        300,
        start,
        start + 300,
        import_kwh=1000 + (k + 1) * wh / 1000,
        w_avg=wh * 12.0,
        w_min=wh * 6.0,
        w_max=wh * 24.0,
        reading_count=count,
        energy_import_kwh=wh / 1000,
        energy_export_kwh=0.0,
    )


@pytest.fixture
async def loaded(
    hass: HomeAssistant, meter: FakeP1Meter, monkeypatch: pytest.MonkeyPatch
) -> tuple[MeterHistory, str]:
    """A loaded meter (clock at NOW) with 24 five-minute windows (2 h) from DAY on."""
    monkeypatch.setattr(history_module, "clock", lambda: NOW)
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: entry.runtime_data.pushes > 0)
    history: MeterHistory = entry.runtime_data.history
    assert history.store is not None
    await hass.async_add_executor_job(
        history.store.write_windows, [five_min(k, wh=10 + k) for k in range(24)]
    )
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, METER_SERIAL), entry.entry_id
    )
    assert device is not None
    return history, device.id


async def get_history(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "get_history", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


async def test_get_history_windows_and_hours(
    hass: HomeAssistant, loaded: tuple[MeterHistory, str]
) -> None:
    _, device_id = loaded
    start = datetime.fromtimestamp(DAY, UTC)
    end = datetime.fromtimestamp(DAY + 3600, UTC)
    response = await get_history(
        hass, device=device_id, start=start.isoformat(), end=end.isoformat(), resolution="5min"
    )
    rows = response["rows"]
    assert len(rows) == 12  # the first hour only
    assert rows[0]["energy_import_kwh"] == pytest.approx(0.010)
    assert rows[0]["w_avg"] == 120.0
    assert datetime.fromisoformat(rows[0]["start"]) == start
    assert datetime.fromisoformat(rows[-1]["end"]) == end
    assert rows[0]["reading_count"] == 300

    hours = await get_history(
        hass,
        device=device_id,
        start=start.isoformat(),
        end="2026-06-21T02:00:00+00:00",
        resolution="hour",
    )
    assert [datetime.fromisoformat(r["start"]) for r in hours["rows"]] == [
        start,
        datetime.fromtimestamp(DAY + 3600, UTC),
    ]
    # hour 0 holds windows 0..11 with 10..21 Wh; hour 1 windows 12..23 with 22..33 Wh
    assert hours["rows"][0]["energy_import_kwh"] == pytest.approx(sum(range(10, 22)) / 1000)
    assert hours["rows"][1]["energy_import_kwh"] == pytest.approx(sum(range(22, 34)) / 1000)
    assert hours["rows"][1]["power_max"] == 33 * 24.0
    assert hours["rows"][0]["power_min"] == 10 * 6.0

    empty = await get_history(
        hass, device=device_id, start=start.isoformat(), end=end.isoformat(), resolution="30s"
    )
    assert empty["rows"] == []


@pytest.mark.parametrize(
    ("data", "key", "argument"),
    [
        ({"start": "2026-06-21"}, "history_device_missing", "device"),
        ({"device": "nope", "start": "2026-06-21"}, "history_unknown_device", "device"),
        ({"start": "yesterday-ish"}, "history_invalid_datetime", "start"),
        # valid text, but before year 1 (UTC), after year 9999, or not in local time (US/Pacific)
        ({"start": "0001-01-01T00:00:00+05:00"}, "history_datetime_out_of_range", "start"),
        (
            {"start": "2026-06-21", "end": "9999-12-31T20:00:00-05:00"},
            "history_datetime_out_of_range",
            "end",
        ),
        (
            {"start": "9999-12-31T12:00:00", "end": "9999-12-31T23:00:00"},
            "history_datetime_out_of_range",
            "end",
        ),
        (
            {"start": "0001-01-01T00:00:00+00:00", "end": "0001-01-01T06:00:00+00:00"},
            "history_datetime_out_of_range",
            "start",
        ),
        ({}, "history_start_missing", "start"),
        ({"start": "2026-06-21", "resolution": "1min"}, "history_invalid_resolution", "resolution"),
        (
            {"start": "2026-06-21T10:00:00", "end": "2026-06-21T09:00:00"},
            "history_end_not_after_start",
            "end",
        ),
        (
            {"start": "2026-06-01", "end": "2026-06-21", "resolution": "30s"},
            "history_range_too_long",
            "end",
        ),
    ],
)
async def test_get_history_bad_arguments(
    hass: HomeAssistant,
    loaded: tuple[MeterHistory, str],
    data: dict[str, Any],
    key: str,
    argument: str,
) -> None:
    _, device_id = loaded
    if key not in ("history_device_missing", "history_unknown_device"):
        data = {"device": device_id, **data}
    with pytest.raises(ServiceValidationError) as err:
        await get_history(hass, **data)
    assert err.value.translation_key == key
    assert err.value.translation_placeholders is not None
    assert err.value.translation_placeholders["argument"] == argument


async def test_a_device_that_is_not_a_meter(
    hass: HomeAssistant, loaded: tuple[MeterHistory, str]
) -> None:
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}, name="Lamp"
    )
    with pytest.raises(ServiceValidationError) as err:
        await get_history(hass, device=device.id, start="2026-06-21")
    assert err.value.translation_key == "history_not_a_meter"
    assert err.value.translation_placeholders is not None
    assert err.value.translation_placeholders["device"] == "Lamp"


async def test_view_json_csv_and_bad_arguments(
    hass: HomeAssistant,
    loaded: tuple[MeterHistory, str],
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    _, device_id = loaded
    client = await hass_client()
    params = {
        "device": device_id,
        "start": "2026-06-21T00:00:00+00:00",
        "end": "2026-06-21T02:00:00+00:00",
    }
    resp = await client.get(HISTORY_VIEW_URL, params=params)
    assert resp.status == 200
    body = await resp.json()
    assert body["resolution"] == "5min"
    assert len(body["rows"]) == 24
    column = body["columns"].index("energy_import_kwh")
    assert sum(row[column] for row in body["rows"]) == pytest.approx(sum(range(10, 34)) / 1000)

    resp = await client.get(HISTORY_VIEW_URL, params={**params, "format": "csv"})
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    table = list(csv.reader(io.StringIO(await resp.text())))
    assert table[0] == body["columns"]
    assert len(table) == 25
    assert float(table[1][column]) == pytest.approx(0.010)

    for bad, argument in (
        ({"resolution": "week"}, "resolution"),
        ({"start": "tomorrow"}, "start"),
        ({"format": "xml"}, "format"),
        ({"colour": "red"}, "colour"),
        ({"end": "2026-06-20T00:00:00+00:00"}, "end"),
        ({"device": "nope"}, "device"),
        ({"start": "0001-01-01T00:00:00+05:00"}, "start"),
        ({"end": "9999-12-31T20:00:00-05:00"}, "end"),
    ):
        resp = await client.get(HISTORY_VIEW_URL, params={**params, **bad})
        assert resp.status == 400, bad
        reason = await resp.json()
        assert reason["argument"] == argument
        assert reason["problem"]

    anonymous = await hass_client_no_auth()
    resp = await anonymous.get(HISTORY_VIEW_URL, params=params)
    assert resp.status == 401


# ---------------------------------------------------------------------- hwLogger import


def make_hwlogger(path: Path, count: int, first_end: float, skip: frozenset[int]) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE meter_data ({', '.join(HWLOGGER_COLUMNS)})")
    imp = 500.0
    for k in range(count):
        imp = round(imp + 0.040, 3)
        if k in skip:
            continue
        values: dict[str, object] = dict.fromkeys(HWLOGGER_COLUMNS, 100.0)
        values.update(
            timestamp=int(first_end + k * 300),
            tariff=1,
            import_kwh=imp,
            export_kwh=10.0,
            reading_count=300,
        )
        conn.execute(
            f"INSERT INTO meter_data VALUES ({', '.join('?' * len(HWLOGGER_COLUMNS))})",  # noqa: S608
            tuple(values[c] for c in HWLOGGER_COLUMNS),
        )
    conn.commit()
    conn.close()


async def test_import_hwlogger_backfills_once(
    hass: HomeAssistant, loaded: tuple[MeterHistory, str]
) -> None:
    history, device_id = loaded
    store: MeterStore | None = history.store
    assert store is not None
    # two hours before the stored windows, one window missing (gap-filled), and two
    # windows that overlap what is stored (those are kept as they are)
    first_end = DAY - 2 * 3600 + 300
    path = Path(hass.config.path("meter_data.db"))
    make_hwlogger(path, count=26, first_end=first_end, skip=frozenset({5}))
    response = await import_hwlogger(hass, device_id)
    assert response["windows"] == 26
    assert response["added"] == 24  # the two overlapping ones were recorded live
    windows = await hass.async_add_executor_job(
        store.query_windows, SERIES, 300, DAY - 2 * 3600, DAY + 7200
    )
    assert len(windows) == 48
    before = [w for w in windows if w.start < DAY]
    assert [w.reading_count for w in before].count(0) == 1
    # 40 Wh per window from the counters; the first window has no previous counter
    assert sum(w.energy_import_kwh or 0 for w in before) == pytest.approx(23 * 0.040)
    assert windows[24] == five_min(0, wh=10)  # live windows untouched

    await async_wait_recording_done(hass)
    stats = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        datetime.fromtimestamp(DAY - 2 * 3600, UTC),
        datetime.fromtimestamp(DAY + 7200, UTC),
        {IMPORT_ID},
        "hour",
        None,
        {"state", "sum"},
    )
    rows = stats[IMPORT_ID]
    assert len(rows) == 4
    assert rows[0]["state"] == pytest.approx(11 * 0.040)
    assert rows[-1]["sum"] == pytest.approx(23 * 0.040 + sum(range(10, 34)) / 1000)

    again = await import_hwlogger(hass, device_id, str(path))
    assert again["added"] == 0


@pytest.mark.parametrize(
    ("content", "path", "key"),
    [
        (b"not a database at all" * 50, "meter_data.db", "hwlogger_not_a_database"),
        (None, "missing.db", "hwlogger_not_a_database"),
        (None, "/etc/passwd", "hwlogger_path_not_allowed"),
        (None, "  ", "hwlogger_path_missing"),
        (None, "meter\x00data.db", "hwlogger_not_a_database"),  # no OS accepts a NUL
        (None, "~no-such-user-here/meter_data.db", "hwlogger_not_a_database"),
    ],
)
async def test_import_hwlogger_rejects_bad_files(
    hass: HomeAssistant,
    loaded: tuple[MeterHistory, str],
    content: bytes | None,
    path: str,
    key: str,
) -> None:
    history, device_id = loaded
    assert history.store is not None
    if content is not None:
        await hass.async_add_executor_job(Path(hass.config.path(path)).write_bytes, content)
    before = await hass.async_add_executor_job(history.store.query_windows, SERIES, 300, 0, NOW * 2)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "import_hwlogger", {"device": device_id, "path": path}, blocking=True
        )
    assert err.value.translation_key == key
    after = await hass.async_add_executor_job(history.store.query_windows, SERIES, 300, 0, NOW * 2)
    assert after == before


async def test_import_hwlogger_is_for_administrators(
    hass: HomeAssistant, p1_setup: MockConfigEntry, hass_read_only_user: Any
) -> None:
    """Reading a file from Home Assistant's disk is not for every user."""
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "import_hwlogger",
            {"path": "meter_data.db"},
            blocking=True,
            return_response=True,
            context=Context(user_id=hass_read_only_user.id),
        )


async def test_device_lookup_uses_no_deprecated_device_registry_api(
    hass: HomeAssistant, loaded: tuple[MeterHistory, str], caplog: pytest.LogCaptureFixture
) -> None:
    """``DeviceEntry.config_entries`` is deprecated (gone in 2027.10): the lookup does not use it."""
    _, device_id = loaded
    caplog.clear()
    await get_history(
        hass, device=device_id, start="2026-06-21T00:00:00+00:00", end="2026-06-21T02:00:00+00:00"
    )
    assert "deprecated" not in caplog.text
    assert "config_entries" not in caplog.text
