"""The hwLogger import places rows at the UTC times hwLogger meant, in any HA time zone.

The rows are made the way hwLogger (github.com/AmpScm/HwLogger) makes them: its daemon takes
``datetime.utcnow()`` at second precision, rounds it up to the 5-minute block end
(``HWLoggerDaemon._get_block_timestamp``) and stores ``block_ts.isoformat()``, a naive UTC text,
in its own ``meter_data`` table (``hwLogger/db.py``: ``CREATE_METER_TABLE``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
import sqlite3

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest

from custom_components.meterit.const import DOMAIN
from custom_components.meterit.p1.history import MeterHistory
from simulator.p1_meter import FakeP1Meter

from .common import import_hwlogger
from .conftest import METER_SERIAL, p1_entry, wait_for

SERIES = f"p1:{METER_SERIAL}"
BLOCK = 300

# hwLogger/db.py, CREATE_METER_TABLE (verbatim columns and types)
HWLOGGER_METER_TABLE = """
CREATE TABLE IF NOT EXISTS meter_data (
    timestamp TEXT PRIMARY KEY NOT NULL,
    tariff INTEGER NOT NULL,
    import_kwh REAL NOT NULL,
    import_t1_kwh REAL NOT NULL,
    import_t2_kwh REAL NOT NULL,
    export_kwh REAL NOT NULL,
    w REAL NOT NULL,
    l1_w REAL, l2_w REAL, l3_w REAL,
    l1_v REAL, l2_v REAL, l3_v REAL,
    w_avg REAL, l1_w_avg REAL, l2_w_avg REAL, l3_w_avg REAL,
    w_max REAL, l1_w_max REAL, l2_w_max REAL, l3_w_max REAL,
    reading_count INTEGER NOT NULL
);
"""


def hwlogger_block_timestamp(reference: datetime, interval: int) -> datetime:
    """hwLogger's ``_get_block_timestamp``: the next block boundary >= ``reference`` (naive)."""
    total = reference.hour * 3600 + reference.minute * 60 + reference.second
    remainder = total % interval
    end = total if remainder == 0 else total + interval - remainder
    midnight = reference.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(seconds=end)


def write_hwlogger_db(path: Path, first_reading_utc: datetime, blocks: int) -> list[float]:
    """Write ``blocks`` 5-minute rows as hwLogger's daemon does; return their UTC ends."""
    conn = sqlite3.connect(path)
    conn.executescript(HWLOGGER_METER_TABLE)
    ends: list[float] = []
    imp = 1000.0
    reading = first_reading_utc.replace(tzinfo=None, microsecond=0)  # datetime.utcnow()
    for _ in range(blocks):
        block_ts = hwlogger_block_timestamp(reading, BLOCK)
        imp = round(imp + 0.025, 3)
        conn.execute(
            "INSERT OR REPLACE INTO meter_data VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (block_ts.isoformat(), 1, imp, imp, 0.0, 5.0, 300.0)
            + (100.0,) * 3
            + (230.0,) * 3
            + (300.0,) * 4
            + (450.0,) * 4
            + (300,),
        )
        ends.append(block_ts.replace(tzinfo=UTC).timestamp())
        reading += timedelta(seconds=BLOCK)
    conn.commit()
    conn.close()
    return ends


@pytest.fixture
async def meter_device(hass: HomeAssistant, meter: FakeP1Meter) -> tuple[MeterHistory, str]:
    """A loaded P1 meter in Madrid: its history and its device id."""
    await hass.config.async_set_time_zone("Europe/Madrid")
    entry = p1_entry(meter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: entry.runtime_data.pushes > 0)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, METER_SERIAL), entry.entry_id
    )
    assert device is not None
    return entry.runtime_data.history, device.id


@pytest.mark.parametrize(
    ("first_reading_utc", "blocks"),
    [
        pytest.param(datetime(2026, 6, 21, 9, 57, 12, tzinfo=UTC), 24, id="summer"),
        pytest.param(datetime(2026, 1, 15, 9, 57, 12, tzinfo=UTC), 24, id="winter"),
        # Madrid's clocks go back at 03:00 CEST = 01:00 UTC: local 02:00-03:00 happens twice
        pytest.param(datetime(2026, 10, 24, 23, 31, 40, tzinfo=UTC), 36, id="autumn-repeat"),
    ],
)
async def test_import_places_hwlogger_rows_at_their_utc_time(
    hass: HomeAssistant,
    meter_device: tuple[MeterHistory, str],
    first_reading_utc: datetime,
    blocks: int,
) -> None:
    """hwLogger's naive UTC texts land at those UTC instants, none dropped, energy kept."""
    history, device_id = meter_device
    store = history.store
    assert store is not None
    ends = write_hwlogger_db(Path(hass.config.path("meter_data.db")), first_reading_utc, blocks)
    response = await import_hwlogger(hass, device_id)
    assert response["windows"] == blocks
    windows = await hass.async_add_executor_job(
        store.query_windows, SERIES, BLOCK, ends[0] - BLOCK, ends[-1]
    )
    assert [w.end for w in windows] == ends
    assert all(w.reading_count == 300 for w in windows)
    # every block's 25 Wh after the first, whose previous counter is unknown
    assert sum(w.energy_import_kwh or 0 for w in windows) == pytest.approx((blocks - 1) * 0.025)
