"""One station of a power webhook: its live meter, its window aggregator, its availability."""

from __future__ import annotations

from dataclasses import dataclass

from ..metering import WindowAggregator
from ..powerhook import StationMeter
from .const import STATION_MAX_HOLD


@dataclass(slots=True)
class Station:
    """One station's live state, its window aggregator, and whether it is available.

    Available only while its latest reading is less than ``STATION_STALE_AFTER`` old (a new
    station whose first readings are old ones is not).
    """

    meter: StationMeter
    aggregator: WindowAggregator
    available: bool = False
    version: int = 0


def station_series(entry_id: str, station_id: str) -> str:
    """The windows' series name of a station of the webhook entry ``entry_id``.

    Per entry: two webhook entries may both have a station ``1``. (A station ID has no ``:``.)
    """
    return f"station:{entry_id}:{station_id}"


def new_station(entry_id: str, station_id: str) -> Station:
    """A station without readings yet."""
    return Station(
        StationMeter(station_id, STATION_MAX_HOLD),
        WindowAggregator(station_series(entry_id, station_id), max_weight=STATION_MAX_HOLD),
    )
